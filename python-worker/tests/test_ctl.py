"""conflink-ctl end to end: the real CLI in a subprocess against a ControlServer on this loop."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
import zmq
import zmq.asyncio
from fakes import FakeEngine, ManualClock, free_port

import conflink
from conflink import ctl
from conflink.config import Config, parse_config, write_config_atomic
from conflink.control import ControlHandler, ControlServer

PKG_ROOT = str(Path(conflink.__file__).resolve().parent.parent)
VERSION = "1.2.3-ctl"


def link_doc(link_id: str, **over: Any) -> dict[str, Any]:
    return {"id": link_id, "room": "100", "endpoint": "prov", "number": "555", **over}


def config_doc(*links: dict[str, Any], endpoint: str, token: str | None = None) -> dict[str, Any]:
    control: dict[str, Any] = {"endpoint": endpoint}
    if token is not None:
        control["token"] = token
    return {"version": 1, "control": control, "links": list(links) or [link_doc("1")]}


def three_links(**first: Any) -> list[dict[str, Any]]:
    return [link_doc("1", **first), link_doc("2", room="200", retry={"backoff": [1, 1, 30]}), link_doc("3", room="300")]



def staged_engine(config: Config) -> FakeEngine:
    """The real engine with link 1 in the room for 125 s, link 2 in back-off after three busy
    attempts, link 3 stopped by a 404: as Asterisk's events would leave them."""
    engine = FakeEngine(config, ManualClock(time.time() - 125))
    engine.internals_join("1", 2)
    engine.external_joins("1", "PJSIP/prov-00000001")
    engine.clock.advance(123)
    engine.internals_join("2")
    for _ in range(2):
        engine.external_fails("2", "17", "486")
        engine.clock.advance(1)
    engine.external_fails("2", "17", "486")
    engine.internals_join("3")
    engine.external_fails("3", "1", "404")
    return engine


@dataclass
class Worker:
    endpoint: str
    config_path: Path
    engine: FakeEngine
    server: ControlServer


@dataclass
class Result:
    rc: int
    out: str
    err: str
    elapsed: float


async def run_ctl(*args: str, stdin: str | None = None) -> Result:
    env = {**os.environ, "PYTHONPATH": PKG_ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "conflink.ctl",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), 20)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode(), time.monotonic() - t0)


async def start_worker(tmp_path: Path, endpoint: str, token: str | None = None) -> Worker:
    path = tmp_path / "conflink.yaml"
    config = parse_config(config_doc(*three_links(), endpoint=endpoint, token=token))
    write_config_atomic(str(path), config.raw)
    engine = staged_engine(config)
    server = ControlServer(endpoint, ControlHandler(engine, path, VERSION, time.monotonic()))
    await server.start()
    return Worker(endpoint, path, engine, server)


@pytest_asyncio.fixture
async def worker(tmp_path: Path) -> AsyncIterator[Worker]:
    w = await start_worker(tmp_path, f"tcp://127.0.0.1:{free_port()}")
    yield w
    await w.server.close()


def read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def write_text(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


@pytest.mark.asyncio
async def test_ping(worker: Worker) -> None:
    r = await run_ctl("--endpoint", worker.endpoint, "ping")
    assert (r.rc, r.out.strip(), r.err) == (0, f'ok {{"version": "{VERSION}"}}', "")


@pytest.mark.asyncio
async def test_status_table_and_json(worker: Worker) -> None:
    r = await run_ctl("--endpoint", worker.endpoint, "status")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0].startswith(f"worker {VERSION}  uptime ") and "AMI connected" in lines[0]
    assert lines[1].split() == [
        "LINK",
        "ROOM",
        "STATE",
        "FAR-END",
        "INT",
        "EXTERNAL",
        "SINCE",
        "ATTEMPTS",
        "NEXT",
        "USED",
        "STOP",
        "LAST",
        "ERROR",
    ]
    assert lines[2].split() == ["1", "100", "connected", "in_meeting", "2", "PJSIP/prov-00000001", "2m05s", "1/5", "-",
                                 "2m05s", "-", "-"]
    assert lines[3].split() == ["2", "200", "backoff", "-", "1", "-", "-", "3/5", "30s", "0.0s", "-", "busy", "(486)"]
    assert lines[4].split()[:11] == ["3", "300", "failed", "-", "1", "-", "-", "1/5", "-", "0.0s", "permanent"]
    assert lines[4].endswith(
        "  number not found (404) [stopped: number will not work: number not found (404)]"), lines[4]
    r = await run_ctl("--endpoint", worker.endpoint, "status", "--json")
    assert r.rc == 0
    doc = json.loads(r.out)
    assert doc["ok"] is True and doc["version"] == VERSION and doc["links"][1]["last_error"] == "busy (486)"


@pytest.mark.asyncio
async def test_push_config_file_accepted(worker: Worker, tmp_path: Path) -> None:
    src = tmp_path / "new.yaml"
    new = config_doc(*three_links(number="777"), endpoint=worker.endpoint)
    write_text(src, yaml.safe_dump(new))
    r = await run_ctl("--endpoint", worker.endpoint, "push-config", str(src))
    assert r.rc == 0, r
    note = "link 1: dial settings changed; the live call stays, the change applies at the next dial"
    assert r.out.splitlines() == [f'ok {{"notes": ["{note}"]}}', f"note: {note}"]
    assert worker.engine.config is not None and worker.engine.config.links[0].number == "777"
    assert yaml.safe_load(read_bytes(worker.config_path)) == new


@pytest.mark.asyncio
async def test_push_config_stdin_json(worker: Worker) -> None:
    new = config_doc(link_doc("9"), endpoint=worker.endpoint)
    r = await run_ctl("--endpoint", worker.endpoint, "push-config", "-", stdin=json.dumps(new))
    assert r.rc == 0, r
    assert worker.engine.config is not None and [lk.id for lk in worker.engine.config.links] == ["9"]


@pytest.mark.asyncio
async def test_push_config_rejected_names_key(worker: Worker) -> None:
    before = read_bytes(worker.config_path)
    old = worker.engine.config
    text = (
        f'version: 1\ncontrol: {{endpoint: "{worker.endpoint}"}}\n'
        'links:\n  - {id: "1", room: 0354233, endpoint: p, number: "1"}\n'
    )
    r = await run_ctl("--endpoint", worker.endpoint, "push-config", "-", stdin=text)
    assert r.rc == 1, r
    assert r.out.startswith("error: invalid config: links[0].room: 120987 must be a quoted string"), r.out
    assert read_bytes(worker.config_path) == before and worker.engine.config is old


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nlinks: [\n", "<stdin>: not valid YAML at line 3, column 1"),
        ("version: 1\n  bad: indent\n", "<stdin>: not valid YAML at line 2"),
        ("dtmf: *123#\n", "<stdin>: not valid YAML"),
        ("- 1\n- 2\n", "<stdin>: expected a config mapping (version: 1, ...), got list"),
        ("", "<stdin>: expected a config mapping (version: 1, ...), got NoneType"),
        ("version: 1\nwhen: 2024-01-01\n", "cannot encode the request as JSON"),
        ("version: 1\nx: .nan\n", "cannot encode the request as JSON"),
    ],
)
@pytest.mark.asyncio
async def test_push_config_local_errors(worker: Worker, text: str, message: str) -> None:
    r = await run_ctl("--endpoint", worker.endpoint, "push-config", "-", stdin=text)
    assert r.rc == 2, r
    assert r.err.startswith(f"conflink-ctl: {message}"), r.err
    assert worker.server.requests_served == 0


@pytest.mark.asyncio
async def test_push_config_missing_file(worker: Worker, tmp_path: Path) -> None:
    r = await run_ctl("--endpoint", worker.endpoint, "push-config", str(tmp_path / "nope.yaml"))
    assert r.rc == 2 and "nope.yaml: no such file" in r.err
    assert worker.server.requests_served == 0


@pytest.mark.asyncio
async def test_dial_and_hangup(worker: Worker) -> None:
    r = await run_ctl("--endpoint", worker.endpoint, "dial", "3", "--force", "--seconds", "20")
    assert r.rc == 0 and r.out.strip() == 'ok {"message": "dialling now"}', r  # lifts the 404 stop
    r = await run_ctl("--endpoint", worker.endpoint, "dial", "1")
    assert r.rc == 1 and r.out.strip() == "error: a call is already in the room", r
    r = await run_ctl("--endpoint", worker.endpoint, "hangup", "1")
    assert r.rc == 0 and r.out.strip() == 'ok {"message": "hanging up"}', r
    r = await run_ctl("--endpoint", worker.endpoint, "hangup", "2")
    assert r.rc == 1 and r.out.strip() == "error: no external call", r
    r = await run_ctl("--endpoint", worker.endpoint, "dial", "nope")
    assert r.rc == 1 and "link: no link with id 'nope'" in r.out
    assert worker.engine.calls == [("dial", "3", True, 20.0), ("dial", "1", False, None), ("hangup", "1"),
                                   ("hangup", "2")]


@pytest.mark.asyncio
async def test_room_controls_dtmf_mute_unmute(worker: Worker) -> None:
    ep = worker.endpoint
    r = await run_ctl("--endpoint", ep, "dtmf", "1", "*6")
    assert r.rc == 0 and r.out.strip() == 'ok {"message": "sending 2 digit(s)"}', r
    r = await run_ctl("--endpoint", ep, "mute", "1")
    assert r.rc == 0 and r.out.strip() == 'ok {"message": "muting"}', r
    r = await run_ctl("--endpoint", ep, "unmute", "1")
    assert r.rc == 0, r
    r = await run_ctl("--endpoint", ep, "mute", "2")
    assert r.rc == 1 and r.out.strip() == "error: no live external call in the room", r
    # Refused by the worker's validation before the engine is asked: exit 1 like every refusal.
    r = await run_ctl("--endpoint", ep, "dtmf", "1", "12w3")
    assert r.rc == 1 and "digits: 'w' is not a DTMF digit" in r.out, r
    r = await run_ctl("--endpoint", ep, "unmute", "nope")
    assert r.rc == 1 and "link: no link with id 'nope'" in r.out, r
    r = await run_ctl("--endpoint", ep, "dtmf", "1")
    assert r.rc == 2, r  # usage: DIGITS missing
    assert worker.engine.calls == [("dtmf", "1", "*6"), ("mute", "1"), ("unmute", "1"), ("mute", "2")]


@pytest.mark.asyncio
async def test_endpoint_and_token_from_config(tmp_path: Path) -> None:
    ep = f"ipc://{tmp_path}/run/ctl.sock"
    w = await start_worker(tmp_path, ep, token="T0ken!")
    try:
        r = await run_ctl("--config", str(w.config_path), "ping")
        assert r.rc == 0, r
        r = await run_ctl("--config", str(w.config_path), "--token", "wrong", "ping")
        assert (r.rc, r.out.strip()) == (1, "error: unauthorized")
        r = await run_ctl("--endpoint", ep, "status")
        assert (r.rc, r.out.strip()) == (1, "error: unauthorized")
        r = await run_ctl("--endpoint", ep, "--token", "T0ken!", "status", "--json")
        assert r.rc == 0 and json.loads(r.out)["ok"] is True
        # A pushed config that rotates the token: ctl reads the new one from the saved file.
        new = config_doc(link_doc("1"), endpoint=ep, token="next")
        r = await run_ctl("--config", str(w.config_path), "push-config", "-", stdin=yaml.safe_dump(new))
        assert r.rc == 0, r
        r = await run_ctl("--config", str(w.config_path), "ping")
        assert r.rc == 0, r
        r = await run_ctl("--endpoint", ep, "--token", "T0ken!", "ping")
        assert r.rc == 1
    finally:
        await w.server.close()


@pytest.mark.asyncio
async def test_config_file_only_needs_a_valid_control_section(worker: Worker, tmp_path: Path) -> None:
    lenient = tmp_path / "partial.yaml"
    write_text(lenient, f'version: 7\nlinks: "garbage"\ncontrol:\n  endpoint: "{worker.endpoint}"\n')
    r = await run_ctl("--config", str(lenient), "ping")
    assert r.rc == 0, r
    broken = tmp_path / "broken.yaml"
    write_text(broken, "control: [\n")
    r = await run_ctl("--config", str(broken), "ping")
    assert r.rc == 2 and f"--config {broken}: not valid YAML at line 2" in r.err
    write_text(broken, "control:\n  endpoint: 7391\n")
    r = await run_ctl("--config", str(broken), "ping")
    assert r.rc == 2 and "control.endpoint: 7391 is not a tcp:// or ipc:// endpoint" in r.err


def test_control_from_config_defaults(tmp_path: Path) -> None:
    assert ctl.control_from_config(str(tmp_path / "missing.yaml")) == ("tcp://127.0.0.1:7391", "")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert ctl.control_from_config(str(empty)) == ("tcp://127.0.0.1:7391", "")
    only = tmp_path / "only.yaml"
    only.write_text("version: 1\ncontrol: {token: abc}\n")
    assert ctl.control_from_config(str(only)) == ("tcp://127.0.0.1:7391", "abc")


@pytest.mark.asyncio
async def test_no_worker_exits_3_within_timeout() -> None:
    ep = f"tcp://127.0.0.1:{free_port()}"
    for cmd in (["ping"], ["push-config", "-"]):
        r = await run_ctl("--endpoint", ep, "--timeout", "1", *cmd, stdin='{"version": 1}')
        assert r.rc == 3, r
        assert r.err.strip() == f"conflink-ctl: no answer from conflink-worker at {ep} within 1 s (is it running?)"
        assert r.elapsed < 2.0, r.elapsed


@pytest.mark.asyncio
async def test_silent_peer_exits_3_within_timeout() -> None:
    # A peer that accepts the connection and the request but never answers.
    ep = f"tcp://127.0.0.1:{free_port()}"
    sock = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(ep)
    try:
        r = await run_ctl("--endpoint", ep, "--timeout", "0.5", "status")
        assert r.rc == 3 and "no answer" in r.err and r.elapsed < 1.5, r
        got = await asyncio.wait_for(sock.recv_multipart(), 1)
        assert json.loads(got[-1]) == {"cmd": "status"}
    finally:
        sock.close(linger=0)


@pytest.mark.asyncio
async def test_garbage_reply_is_reported() -> None:
    ep = f"tcp://127.0.0.1:{free_port()}"
    sock = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(ep)

    async def answer() -> None:
        frames = await sock.recv_multipart()
        await sock.send_multipart([*frames[:2], b"[1, 2]"])

    task = asyncio.create_task(answer())
    try:
        r = await run_ctl("--endpoint", ep, "ping")
        assert r.rc == 3 and "unexpected answer" in r.err, r
    finally:
        task.cancel()
        sock.close(linger=0)


@pytest.mark.asyncio
async def test_usage_errors() -> None:
    r = await run_ctl("--timeout", "0", "ping")
    assert r.rc == 2 and "--timeout" in r.err
    r = await run_ctl("frobnicate")
    assert r.rc == 2 and "invalid choice" in r.err
    r = await run_ctl("--endpoint", "nonsense", "ping")
    assert r.rc == 2 and "cannot connect to nonsense" in r.err


@pytest.mark.asyncio
async def test_ctl_does_not_import_panoramisk() -> None:
    code = "import sys, conflink.ctl; sys.exit(1 if 'panoramisk' in sys.modules else 0)"
    env = {**os.environ, "PYTHONPATH": PKG_ROOT}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=env)
    assert await proc.wait() == 0


def test_format_status_tolerates_sparse_replies() -> None:
    text = ctl.format_status({"ok": True, "ami": {"connected": False, "last_error": "auth failed"}, "links": []})
    assert "AMI DISCONNECTED (last_error=auth failed)" in text and "no links configured" in text
    text = ctl.format_status(
        {
            "ok": True,
            "version": "1",
            "uptime": 90061,
            "links": [
                {"id": "7", "enabled": False, "state": "idle", "retry": {"max_attempts": 3}, "attempts": 0},
                "junk",
            ],
        }
    )
    assert text.splitlines()[0].startswith("worker 1  uptime 1d01h") and "AMI DISCONNECTED" in text
    assert text.splitlines()[2].split() == ["7", "-", "idle", "(disabled)", "-", "-", "-", "-", "0/3", "-", "-", "-",
                                            "-"]


def test_main_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    # Exercises main() itself (the console-script entry point) without a worker.
    rc = ctl.main(
        ["--endpoint", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.2", "push-config", "-"],
        stdin=io.StringIO("version: 1\n"),
    )
    assert rc == 3 and "no answer" in capsys.readouterr().err


def test_format_status_warns_of_missing_far_end_modules_and_shows_the_daily_budget() -> None:
    text = ctl.format_status({"ok": True, "ami": {"connected": True, "modules": {
        "func_talkdetect.so": "missing", "app_waitforcond.so": "loaded"}},
        "links": [{"id": "1", "state": "idle", "used_today": 754, "daily_minutes": 60, "stop": "daily_budget"}]})
    lines = text.splitlines()
    assert lines[1] == ("warning: Asterisk has not loaded func_talkdetect.so: `p` steps wait out prompt_timeout "
                        "and dead_air is off")
    assert lines[3].split()[9:11] == ["12m34s/60m", "daily_budget"]
    assert "warning" not in ctl.format_status({"ok": True, "ami": {"modules": {"func_talkdetect.so": "unknown"}}})


def test_format_status_shows_the_dtmf_step_while_sending() -> None:
    text = ctl.format_status(
        {
            "ok": True,
            "links": [
                {"id": "1", "state": "dialing", "far_end": "sending_dtmf", "dtmf_step": 2, "dtmf_steps": 3,
                 "external_channel": "PJSIP/x-1", "external_since": time.time()},
                {"id": "2", "state": "connected", "far_end": "waiting", "dtmf_step": None, "dtmf_steps": None,
                 "external_channel": "PJSIP/x-2", "external_since": time.time()},
            ],
        }
    )
    rows = [line.split() for line in text.splitlines()[2:]]
    assert rows[0][:4] == ["1", "-", "dialing", "sending_dtmf"] and rows[0][4] == "2/3"
    assert rows[1][:4] == ["2", "-", "connected", "waiting"]

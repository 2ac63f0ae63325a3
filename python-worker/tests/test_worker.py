"""The daemon's own paths in process: arguments, a bad config file, the control socket taken,
and a run from start to a signal (SIGTERM and SIGUSR1 through the loop's real handlers)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

import pytest
import yaml
import zmq
from fakes import free_port

from conflink import ctl, worker
from conflink.config import load_config_file


def write(tmp_path: Path, control_port: int) -> Path:
    path = tmp_path / "conflink.yaml"
    path.write_text(yaml.safe_dump({
        "version": 1,
        "ami": {"host": "127.0.0.1", "port": free_port(), "secret": "x"},  # nobody listens: back-off
        "control": {"endpoint": f"tcp://127.0.0.1:{control_port}"},
        "links": [{"id": "1", "room": "100", "endpoint": "E", "number": "1"}],
    }))
    return path


def args(path: Path) -> argparse.Namespace:
    return worker._parse_args(["--config", str(path), "--reconcile-interval", "60"])


def test_arguments_are_checked() -> None:
    with pytest.raises(SystemExit) as exc:
        worker._parse_args([])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        worker._parse_args(["--config", "x", "--reconcile-interval", "0.5"])


def test_a_bad_config_file_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "conflink.yaml"
    path.write_text("version: 1\nlinks: [{id: '1', room: 'x', endpoint: E, number: '1'}]\n")
    assert worker.main(["--config", str(path), "--log-file", str(tmp_path / "w.log")]) == worker.EXIT_BAD_CONFIG
    assert "links[0].room" in capsys.readouterr().err


async def _ping(endpoint: str, wait: float = 2.0) -> dict[str, object]:
    return await asyncio.to_thread(ctl.request, endpoint, {"cmd": "ping"}, wait)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
@pytest.mark.asyncio
async def test_runs_until_a_signal_then_frees_the_control_socket(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    path = write(tmp_path, port)
    endpoint = f"tcp://127.0.0.1:{port}"
    task = asyncio.ensure_future(worker._run(load_config_file(str(path)), args(path)))
    reply: dict[str, object] = {}
    for _ in range(100):  # until the socket answers (bounded)
        try:
            reply = await _ping(endpoint)
            break
        except ctl.CtlError:
            await asyncio.sleep(0.05)
    assert reply.get("ok") is True, reply
    os.kill(os.getpid(), sig)
    assert await asyncio.wait_for(task, 10) == 0
    with pytest.raises(ctl.CtlError):
        await _ping(endpoint, 0.3)  # nobody serves it any more


@pytest.mark.asyncio
async def test_a_taken_control_endpoint_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    path = write(tmp_path, port)
    ctx = zmq.Context()
    squatter = ctx.socket(zmq.ROUTER)
    squatter.bind(f"tcp://127.0.0.1:{port}")
    try:
        assert await worker._run(load_config_file(str(path)), args(path)) == worker.EXIT_BAD_CONFIG
    finally:
        squatter.close(0)
        ctx.term()
    assert "control endpoint" in capsys.readouterr().err

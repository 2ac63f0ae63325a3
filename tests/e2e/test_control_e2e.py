"""Live config over the control socket, against a real Asterisk and SIPp providers.

Two links on two providers (SIP-A, SIP-B), each with an external call up. A pushed config that
changes one link must not touch the other's call; an invalid config changes nothing (memory
and disk); a config without a link hangs that link's call up (BYE at its provider).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from lab import Lab, LabError, Sipp, Worker, free_port_block, observe, wait_value, write_yaml

CTL = [sys.executable, "-m", "conflink.ctl"]
TOKEN = "e2e-control-token"


def ctl(config_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CTL, "--config", str(config_path), "--timeout", "3", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )


def status(config_path: Path) -> dict[str, Any]:
    r = ctl(config_path, "status", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    doc = json.loads(r.stdout)
    assert doc["ok"] is True
    return doc


def links_by_id(st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lk["id"]: lk for lk in st["links"]}


def wait_until(pred: Callable[[], Any], timeout: float, what: str, worker: Worker | None = None) -> Any:
    """lab.wait_value with the worker's log on failure."""
    return wait_value(pred, timeout, what, (lambda: worker.log()[-3000:]) if worker is not None else None,
                      interval=0.1)


@dataclass
class Setup:
    lab: Lab
    config_path: Path
    doc: dict[str, Any]
    worker: Worker
    sipp_a: Sipp
    sipp_b: Sipp
    channels: dict[str, str]  # link id -> external channel name


@pytest.fixture
def two_links_up() -> Iterator[Setup]:
    with Lab(name="control-e2e", endpoints=("SIP-A", "SIP-B")) as L:
        sipp_a = L.sipp("answer-and-hold", endpoint="SIP-A")
        sipp_b = L.sipp("answer-and-hold", endpoint="SIP-B")
        config_path = L.workdir / "conflink.yaml"
        doc = L.write_worker_config(
            config_path,
            [
                {"id": "1", "room": "7001", "number": "100", "endpoint": "SIP-A", "dtmf_delay": 0},
                {"id": "2", "room": "7002", "number": "200", "endpoint": "SIP-B", "dtmf_delay": 0},
            ],
            token=TOKEN,
        )
        worker = L.start_worker(config_path)
        wait_until(lambda: ctl(config_path, "ping").returncode == 0, 10, "worker ping", worker)
        wait_until(lambda: status(config_path)["ami"].get("ready"), 15, "AMI ready", worker)

        L.join("7001")
        L.join("7002")
        sipp_a.wait_for(sipp_a.answers, 1, timeout=15)
        sipp_b.wait_for(sipp_b.answers, 1, timeout=15)

        def both_joined() -> dict[str, str] | None:
            lk = links_by_id(status(config_path))
            if all(lk[i]["external_joined"] and lk[i]["external_channel"] for i in ("1", "2")):
                return {i: lk[i]["external_channel"] for i in ("1", "2")}
            return None

        channels = wait_until(both_joined, 15, "both external calls in their rooms", worker)
        members = {m["Channel"] for m in L.confbridge_list("7001")}
        assert channels["1"] in members
        yield Setup(L, config_path, doc, worker, sipp_a, sipp_b, channels)
        assert worker.running(), worker.log()[-3000:]


def read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def test_change_one_link_keeps_other_call_then_invalid_config_changes_nothing(two_links_up: Setup) -> None:
    s = two_links_up
    # 1. Change link 2 (number and DTMF) while both calls are up.
    new = copy.deepcopy(s.doc)
    new["links"][1]["number"] = "201"
    new["links"][1]["dtmf"] = "12#"
    r = ctl(s.config_path, "push-config", "-", stdin=yaml.safe_dump(new))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.startswith("ok")
    assert yaml.safe_load(read_bytes(s.config_path)) == new
    observe(2.0, "a wrongly sent hang-up would reach SIPp")
    assert s.sipp_a.byes() == [], "link 1's call got a BYE after link 2 was changed"
    lk = links_by_id(status(s.config_path))
    assert lk["1"]["external_channel"] == s.channels["1"] and lk["1"]["external_joined"]
    assert s.channels["1"] in {m["Channel"] for m in s.lab.confbridge_list("7001")}
    assert len(s.sipp_a.invites()) == 1  # no redial either

    # 2. An invalid config is refused with the key path; nothing changes in memory or on disk.
    on_disk = read_bytes(s.config_path)
    bad = copy.deepcopy(new)
    bad["links"][0]["dtmf"] = "12x"
    r = ctl(s.config_path, "push-config", "-", stdin=yaml.safe_dump(bad))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout.startswith("error: invalid config: links[0].dtmf: 'x' is not a DTMF character"), r.stdout
    assert read_bytes(s.config_path) == on_disk
    # Unquoted digits are refused too (PyYAML would read 0354233 as 120987).
    text = yaml.safe_dump(new).replace("room: '7001'", "room: 07001")
    assert "room: 07001" in text
    r = ctl(s.config_path, "push-config", "-", stdin=text)
    assert r.returncode == 1 and "links[0].room" in r.stdout, (r.stdout, r.stderr)
    assert read_bytes(s.config_path) == on_disk
    # A wrong token is refused before anything is looked at.
    r = subprocess.run(
        [*CTL, "--config", str(s.config_path), "--token", "nope", "push-config", "-"],
        input=yaml.safe_dump({"version": 1, "links": []}),
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert (r.returncode, r.stdout.strip()) == (1, "error: unauthorized")
    assert read_bytes(s.config_path) == on_disk
    observe(1.0, "a refused push must not change the calls")
    lk = links_by_id(status(s.config_path))
    assert sorted(lk) == ["1", "2"]
    assert lk["1"]["external_channel"] == s.channels["1"]
    assert s.sipp_a.byes() == []


def test_removing_a_live_link_hangs_up_only_its_call(two_links_up: Setup) -> None:
    s = two_links_up
    new = copy.deepcopy(s.doc)
    del new["links"][1]
    r = ctl(s.config_path, "push-config", "-", stdin=yaml.safe_dump(new))
    assert r.returncode == 0, (r.stdout, r.stderr)
    try:
        s.sipp_b.wait_for(lambda: s.sipp_b.byes("in"), 1, timeout=10)
    except LabError as exc:
        raise AssertionError(f"{exc}\n{s.worker.log()[-3000:]}") from exc
    assert yaml.safe_load(read_bytes(s.config_path)) == new
    wait_until(
        lambda: (
            not s.lab.confbridge_list("7002")
            or all(not str(m.get("Uniqueid", "")).startswith("conflink-") for m in s.lab.confbridge_list("7002"))
        ),
        5,
        "link 2's call to leave room 7002",
        s.worker,
    )
    observe(1.0, "a BYE to link 1's call or a redial of the removed link would show up")
    assert s.sipp_a.byes() == [], "link 1's call got a BYE when link 2 was removed"
    st = status(s.config_path)
    assert [lk["id"] for lk in st["links"]] == ["1"]
    assert st["links"][0]["external_channel"] == s.channels["1"]
    assert len(s.sipp_b.invites()) == 1  # and no redial of the removed link


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_second_worker_on_the_same_endpoint_exits_2(tmp_path: Path, transport: str) -> None:
    # No Asterisk needed: the control socket is bound before AMI is reached.
    endpoint = f"tcp://127.0.0.1:{free_port_block()}" if transport == "tcp" else f"ipc://{tmp_path}/run/ctl.sock"
    doc = {
        "version": 1,
        "ami": {"host": "127.0.0.1", "port": free_port_block(), "username": "conflink", "secret": "x"},
        "control": {"endpoint": endpoint},
        "links": [{"id": "1", "room": "7001", "endpoint": "SIP-A", "number": "100"}],
    }
    config_path = tmp_path / "conflink.yaml"
    write_yaml(config_path, doc)
    first = Worker(config_path, tmp_path / "first.log")
    try:
        wait_until(lambda: ctl(config_path, "ping").returncode == 0, 10, "first worker ping", first)
        second = Worker(config_path, tmp_path / "second.log")
        try:
            second.proc.wait(timeout=10)
        finally:
            second.kill()
        assert second.proc.returncode == 2, second.log()
        assert f"control endpoint {endpoint} is already in use (another conflink-worker running?" in second.log()
        assert first.running()
        r = ctl(config_path, "status", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["links"][0]["id"] == "1"
        if transport == "ipc":
            assert (tmp_path / "run" / "ctl.sock").stat().st_mode & 0o777 == 0o600
    finally:
        elapsed, code = first.stop()
    assert code == 0 and elapsed < 2.0
    # Stopped: ctl now reports the dead worker within its timeout.
    t0 = time.monotonic()
    r = ctl(config_path, "ping")
    assert r.returncode == 3 and "no answer" in r.stderr and time.monotonic() - t0 < 4.5

"""Fuzz the control socket: thousands of malformed frames, then a valid request still answers."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
import zmq
import zmq.asyncio
from fakes import FakeEngine, free_port

from conflink.config import parse_config, write_config_atomic
from conflink.control import COMMAND_KEYS, MAX_REQUEST_BYTES, ControlHandler, ControlServer

SEED = 20240611
VALID = {
    "version": 1,
    "ami": {"host": "127.0.0.1", "port": 5038, "username": "conflink", "secret": "x"},
    "links": [
        {"id": "1", "room": "100", "endpoint": "prov", "number": "555", "dtmf": "12#", "retry": {"backoff": [5]}},
        {"id": "2", "room": "200", "endpoint": "prov", "number": "556"},
    ],
}
WRONG_VALUES: list[Any] = [
    None,
    0,
    -1,
    1.5,
    10**30,
    True,
    False,
    "",
    "x",
    "1",
    "\u0000",
    "é" * 40,
    "\ud800",
    [],
    [1, "a"],
    {},
    {"a": {"b": [None]}},
    "y" * 5000,
]


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, -7, 3.25, 1e300, 2**70])
    if kind == 2:
        return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(12)))
    if kind == 3:
        return rng.choice([*COMMAND_KEYS, "", "cmd", "token", "config"])
    if kind == 4:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["cmd", "token", "config", "link", "force", "seconds", "digits", "version", "links", "zz"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def _mutate_config(rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    for _ in range(rng.randrange(1, 4)):
        target: Any = doc
        path: list[Any] = []
        # Walk to a random container inside the document.
        while isinstance(target, dict | list) and target and rng.random() < 0.7:
            key = rng.choice(list(target)) if isinstance(target, dict) else rng.randrange(len(target))
            if not isinstance(target[key], dict | list):
                break
            path.append(key)
            target = target[key]
        if isinstance(target, dict) and target:
            key = rng.choice(list(target))
            if rng.random() < 0.2:
                del target[key]
            else:
                target[key] = copy.deepcopy(rng.choice(WRONG_VALUES))
        elif isinstance(target, list):
            target.append(copy.deepcopy(rng.choice(WRONG_VALUES)))
        if rng.random() < 0.2:
            doc["unknown_" + str(rng.randrange(9))] = 1
    return doc


def build_corpus(rng: random.Random) -> list[list[bytes]]:
    """Message bodies (each a list of frames as a DEALER would send them)."""
    corpus: list[list[bytes]] = []
    # Random bytes, including invalid UTF-8 and the empty frame.
    for _ in range(300):
        corpus.append([rng.randbytes(rng.randrange(0, 300))])
    for _ in range(60):
        corpus.append([b"\xff" + rng.randbytes(20), b'{"cmd":"ping"}'[: rng.randrange(15)]])
    # JSON documents that are not objects, and broken JSON.
    for text in [
        "null",
        "true",
        "1",
        "-0.5",
        '"ping"',
        "[]",
        '[{"cmd":"ping"}]',
        "NaN",
        "Infinity",
        "{",
        "}",
        '{"cmd"}',
    ]:
        corpus.append([text.encode()])
    corpus.append([b"[" * 50000 + b"]" * 50000])
    corpus.append([b'{"a":' * 5000 + b"1" + b"}" * 5000])
    corpus.append([b"9" * 10000])
    corpus.append([b'{"cmd": "ping", "cmd": "ping"}'])
    # Random JSON values (mostly objects with protocol-ish keys).
    for _ in range(250):
        corpus.append([json.dumps(_random_json(rng)).encode()])
    # Wrong types for every field of every command.
    for cmd, keys in COMMAND_KEYS.items():
        for key in sorted(keys):
            for value in WRONG_VALUES:
                req: dict[str, Any] = {"cmd": cmd}
                if cmd in ("dial", "hangup", "dtmf", "mute", "unmute"):
                    req["link"] = "1"
                if cmd == "dtmf":
                    req["digits"] = "*6"
                if cmd == "apply_config":
                    req["config"] = copy.deepcopy(VALID)
                req[key] = value
                corpus.append([json.dumps(req).encode("utf-8", "surrogatepass")])
    # Randomly damaged config documents.
    for _ in range(150):
        corpus.append([json.dumps({"cmd": "apply_config", "config": _mutate_config(rng)}).encode()])
    # Huge strings around the size limit (a JSON object of exactly the limit, then beyond it).
    for size in (MAX_REQUEST_BYTES - 1, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES + 1, 2 * MAX_REQUEST_BYTES):
        head, tail = b'{"cmd": "ping", "pad": "', b'"}'
        corpus.append([head + b"p" * (size - len(head) - len(tail)) + tail])
    corpus.append([json.dumps({"cmd": "dial", "link": "1" * (MAX_REQUEST_BYTES // 2)}).encode()])
    # Multipart junk, with and without a REQ-style empty delimiter.
    for _ in range(100):
        frames = [rng.randbytes(rng.randrange(0, 40)) for _ in range(rng.randrange(2, 6))]
        if rng.random() < 0.3:
            frames[0] = b""
        corpus.append(frames)
    corpus.append([b"", b""])
    corpus.append([b"", b"", b'{"cmd":"ping"}'])
    rng.shuffle(corpus)
    return corpus


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


@pytest.mark.asyncio
async def test_fuzz_control_socket(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    config_path = tmp_path / "conflink.yaml"
    config = parse_config(copy.deepcopy(VALID))
    write_config_atomic(str(config_path), config.raw)
    engine = FakeEngine(config)
    handler = ControlHandler(engine, config_path, "fuzz", time.monotonic())
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    corpus = build_corpus(rng)
    assert len(corpus) >= 1000

    ctx = zmq.asyncio.Context.instance()
    async with ControlServer(endpoint, handler) as server:
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(endpoint)
        replies: list[dict[str, Any]] = []
        try:
            batch = 50
            for start in range(0, len(corpus), batch):
                chunk = corpus[start : start + batch]
                for frames in chunk:
                    await dealer.send_multipart(frames)
                for _ in chunk:
                    got = await asyncio.wait_for(dealer.recv_multipart(), 10)
                    reply = json.loads(got[-1].decode("utf-8"))
                    assert isinstance(reply, dict) and isinstance(reply.get("ok"), bool), reply
                    if not reply["ok"]:
                        assert isinstance(reply["error"], str) and reply["error"], reply
                    replies.append(reply)
        finally:
            dealer.close(linger=0)
        assert len(replies) == len(corpus)
        assert server.requests_served == len(corpus)
        refused = [r for r in replies if not r["ok"]]
        assert len(refused) > 0.9 * len(corpus)
        assert not [r for r in refused if r["error"].startswith("internal error")], refused[:3]

        # Whatever was accepted, memory and disk agree and the worker still answers.
        on_disk = parse_config(yaml.safe_load(_read_bytes(config_path)))
        assert on_disk == engine.config
        assert sorted(os.listdir(tmp_path)) == ["conflink.yaml"]

        req = ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.connect(endpoint)
        try:
            await req.send(b'{"cmd": "status"}')
            status = json.loads(await asyncio.wait_for(req.recv(), 3))
        finally:
            req.close(linger=0)
        assert status["ok"] is True and status["version"] == "fuzz"
        assert [lk["id"] for lk in status["links"]] == [lk.id for lk in engine.config.links]

"""Scenario 7: bad input. 1000 malformed control frames; every config field fuzzed with injection
attempts through `conflink-ctl push-config` and through the module's PHP LinkValidator.
Everything must be refused with a message naming the field; the worker stays up; the last good
config stays in force (status) and on disk (the file's bytes do not change)."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import zmq
from conftest import REPO, Env, file_digest, record
from lab import observe

FAULTS = Path(__file__).resolve().parent
ROOM = "750001"
FRAMES = 1000

# Injection payloads: (label, builder(valid value) -> bad value)
INJECTIONS: list[tuple[str, Any]] = [
    ("newline", lambda v: f"{v}\nAction: Originate"),
    ("trailing-newline", lambda v: f"{v}\n"),
    ("cr", lambda v: f"{v}\rX"),
    ("comma", lambda v: f"{v},x"),
    ("semicolon", lambda v: f"{v};x"),
    ("paren", lambda v: f"{v})"),
    ("dollar-brace", lambda v: "${SHELL}"),
    ("pipe", lambda v: f"{v}|x"),
    ("unicode", lambda v: f"{v}\u0665\u00e9"),
    ("fullwidth", lambda v: "\uff13\uff15\uff14"),
    ("nul", lambda v: f"{v}\x00"),
    ("10kB", lambda v: "9" * 10240),
]
# Characters a secret or token may legitimately hold (they never reach a dialplan or header
# structure there); only line breaks, NUL, non-ASCII and the size limit are injections for them.
PRINTABLE_OK = {"comma", "semicolon", "paren", "dollar-brace", "pipe"}

STRING_FIELDS = {
    "ami.host": "127.0.0.1", "ami.username": "conflink", "ami.secret": "s3cret",
    "control.token": "tok", "dialplan.join_context": "conflink-join",
    "links[0].id": "a", "links[0].room": ROOM, "links[0].endpoint": "SIP-TEST",
    "links[0].number": "600", "links[0].dtmf": "12#", "links[0].callerid": "4930",
}
NUMERIC_FIELDS = [
    "version", "ami.port", "links[0].dtmf_delay", "links[0].ring_timeout", "links[0].arm_delay",
    "links[0].linger", "links[0].retry.max_attempts", "links[0].retry.backoff", "links[0].retry.redial_on_drop",
    "links[0].enabled",
]
NUMERIC_BAD: list[tuple[str, Any]] = [
    ("string", "5;x"), ("newline", "5\n"), ("negative", -1), ("huge", 10**12), ("list", [1]),
    ("object", {"a": 1}), ("null", None), ("float-str", "1e3"),
]
ENDPOINT_BAD = [
    ("any-address", "tcp://0.0.0.0:{p}"), ("star", "tcp://*:{p}"), ("lan-address", "tcp://192.0.2.2:{p}"),
    ("trailing-newline", "tcp://127.0.0.1:{p}\n"), ("ipc-relative", "ipc://ctl.sock"),
    ("ipc-newline", "ipc:///tmp/x\n.sock"), ("inproc", "inproc://x"), ("udp", "udp://127.0.0.1:{p}"),
]


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.replace("[0]", ".0").split(".")
    cur: Any = doc
    for p in parts[:-1]:
        cur = cur[int(p)] if p.isdigit() else cur.setdefault(p, {})
    last = parts[-1]
    if last.isdigit():
        cur[int(last)] = value
    else:
        cur[last] = value


def _bad_configs(good: dict[str, Any], port: int) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(field path, payload label, value, document) for every fuzz case."""
    out = []
    for path, valid in STRING_FIELDS.items():
        for label, build in INJECTIONS:
            if path in ("ami.secret", "control.token") and label in PRINTABLE_OK:
                continue
            doc = copy.deepcopy(good)
            value = build(valid)
            _set(doc, path, value)
            out.append((path, label, value, doc))
    for path in NUMERIC_FIELDS:
        for label, value in NUMERIC_BAD:
            if path == "links[0].retry.backoff" and label == "list":
                value = ["1;x"]
            doc = copy.deepcopy(good)
            _set(doc, path, value)
            out.append((path, label, value, doc))
    for label, value in ENDPOINT_BAD:
        doc = copy.deepcopy(good)
        _set(doc, "control.endpoint", value.format(p=port))
        out.append(("control.endpoint", label, value, doc))
    return out


def _malformed_frames(rng: random.Random) -> list[tuple[str, list[bytes]]]:
    frames: list[tuple[str, list[bytes]]] = []
    fixed: list[tuple[str, bytes]] = [
        ("empty", b""), ("not-json", b"hello"), ("truncated", b'{"cmd": "ping"'), ("array", b"[1,2]"),
        ("number", b"42"), ("string", b'"ping"'), ("null", b"null"),
        ("nan", b'{"cmd": "dial", "link": "a", "seconds": NaN}'),
        ("dup-keys", b'{"cmd": "ping", "cmd": "status"}'), ("no-cmd", b'{"x": 1}'), ("cmd-int", b'{"cmd": 1}'),
        ("unknown-cmd", b'{"cmd": "shutdown"}'), ("extra-key", b'{"cmd": "ping", "evil": true}'),
        ("config-string", b'{"cmd": "apply_config", "config": "version: 1"}'),
        ("config-missing", b'{"cmd": "apply_config"}'), ("dial-no-link", b'{"cmd": "dial"}'),
        ("dial-bad-link", b'{"cmd": "dial", "link": "a\\nb"}'), ("dial-unknown", b'{"cmd": "dial", "link": "zz"}'),
        ("hangup-list", b'{"cmd": "hangup", "link": ["a"]}'), ("deep", b"[" * 100000),
        ("bad-utf8", b'{"cmd": "\xff\xfe"}'), ("token-int", b'{"cmd": "ping", "token": 5}'),
        ("too-big", b'{"cmd": "ping", "pad": "' + b"x" * (1 << 20) + b'"}'),
        ("seconds-neg", b'{"cmd": "dial", "link": "a", "seconds": -5}'),
        ("force-str", b'{"cmd": "dial", "link": "a", "force": "yes"}'),
    ]
    for label, body in fixed:
        frames.append((label, [body]))
    while len(frames) < FRAMES:
        kind = rng.randrange(5)
        n = rng.randrange(1, 300)
        if kind == 0:
            body = rng.randbytes(n)
            label = "random-bytes"
        elif kind == 1:
            body = json.dumps({"cmd": rng.choice(["ping", "status", "dial", "hangup", "apply_config"]),
                               rng.choice(["link", "config", "seconds", "force", "zz"]): rng.choice(
                                   [None, 1, -1, "x" * n, [], {}, True, 1.5])}).encode()
            label = "wrong-types"
        elif kind == 2:
            good = json.dumps({"cmd": "apply_config", "config": {"version": 1, "links": [{"id": "a"}]}}).encode()
            cut = rng.randrange(1, len(good))
            body = good[:cut] + rng.randbytes(rng.randrange(0, 5))
            label = "mangled-json"
        elif kind == 3:
            body = json.dumps({"cmd": "apply_config", "config": {"version": rng.choice([0, 2, "1", None]),
                                                                 "links": rng.choice([None, "x", [1], {}])}}).encode()
            label = "bad-config-doc"
        else:
            body = ("{" * rng.randrange(1, 50) + '"cmd"' + ":" * rng.randrange(0, 3)).encode()
            label = "garbage-structure"
        frames.append((label, [body]))
    return frames


def test_malformed_control_frames(env: Env) -> None:
    env.lab.sipp("answer-and-hold")
    env.write_config([{"id": "a", "room": ROOM, "number": "600", "dtmf_delay": 0}])
    w = env.start_worker()
    before = file_digest(env.config_path)
    endpoint = env.config["control"]["endpoint"]
    ctx = zmq.Context()
    rng = random.Random(20240501)
    frames = _malformed_frames(rng)
    refused = answered = 0
    bad_replies: list[str] = []
    t0 = time.monotonic()
    try:
        for label, parts in frames:
            s = ctx.socket(zmq.REQ)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVTIMEO, 5000)
            s.connect(endpoint)
            s.send_multipart(parts)
            try:
                raw = s.recv()
            except zmq.Again:
                bad_replies.append(f"{label}: no reply")
                s.close()
                continue
            s.close()
            answered += 1
            reply = json.loads(raw)
            if reply.get("ok") is False and isinstance(reply.get("error"), str) and reply["error"]:
                refused += 1
            else:
                bad_replies.append(f"{label}: {reply}")
        # multi-frame and envelope-less requests from a DEALER, and a frame above libzmq's limit
        d = ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.setsockopt(zmq.RCVTIMEO, 3000)
        d.connect(endpoint)
        d.send_multipart([b"", b'{"cmd": "ping"}', b'{"cmd": "ping"}'])
        multi = json.loads(d.recv_multipart()[-1])
        d.close()
        big = ctx.socket(zmq.DEALER)
        big.setsockopt(zmq.LINGER, 0)
        big.connect(endpoint)
        big.send_multipart([b"", b"x" * (5 << 20)])  # above the hard limit: the worker drops the peer
        observe(0.5, "the oversized frame is on its way; the worker must survive it")
        big.close()
    finally:
        ctx.term()
    elapsed = time.monotonic() - t0
    assert multi.get("ok") is False and "frame" in multi.get("error", ""), multi
    assert w.running(), f"worker died:\n{w.log()[-3000:]}"
    ping = env.ctl("ping")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    st = env.status()
    assert [lk["id"] for lk in st["links"]] == ["a"] and st["ami"]["ready"], st
    assert file_digest(env.config_path) == before, "config file changed"
    # the worker still does its job after the abuse
    mark = env.lab.a.mark()
    h = env.lab.join(ROOM)
    env.wait_ext_join(mark, room=ROOM, timeout=10)
    env.lab.leave(h)
    env.wait_no_conflink_channels(10)
    record("bad_input", "malformed frames sent", len(frames) + 2)
    record("bad_input", "frames answered ok:false with an error", refused)
    record("bad_input", "frames with a wrong or missing answer", len(bad_replies))
    record("bad_input", "frames: seconds", round(elapsed, 1))
    assert refused == len(frames) and not bad_replies, bad_replies[:10]
    env.assert_no_lone()


def test_config_fields_fuzzed_through_push_config(env: Env) -> None:
    env.lab.sipp("answer-and-hold")
    good = env.write_config([{"id": "a", "room": ROOM, "number": "600", "dtmf": "12#", "callerid": "4930",
                              "dtmf_delay": 0}])
    w = env.start_worker()
    ok = env.ctl("push-config", "-", stdin=json.dumps(good))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    before_bytes = env.config_path.read_bytes()
    port = int(good["control"]["endpoint"].rsplit(":", 1)[1])
    cases = _bad_configs(good, port)

    def push(case: tuple[str, str, Any, dict[str, Any]]) -> tuple[str, str, int, str]:
        path, label, _value, doc = case
        # explicit endpoint: a wrongly accepted control.endpoint on disk must not spoil later cases
        res = env.ctl("--endpoint", good["control"]["endpoint"], "push-config", "-",
                      stdin=json.dumps(doc, ensure_ascii=False), timeout=15)
        return path, label, res.returncode, (res.stdout + res.stderr).strip()

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(push, cases))
    elapsed = time.monotonic() - t0
    accepted = [(p, lbl, out[:200]) for p, lbl, code, out in results if code == 0]
    unnamed = [(p, lbl, out[:200]) for p, lbl, code, out in results if code != 0 and p not in out]
    wrong_code = [(p, lbl, code, out[:200]) for p, lbl, code, out in results if code not in (0, 1)]
    record("bad_input", "push-config fuzz cases", len(cases))
    record("bad_input", "push-config fields fuzzed", len({c[0] for c in cases}))
    record("bad_input", "push-config accepted (must be 0)", [f"{p} {lbl}" for p, lbl, _ in accepted])
    record("bad_input", "push-config refusals not naming the field",
           [f"{p} {lbl}: {out[:120]}" for p, lbl, out in unnamed])
    record("bad_input", "push-config: seconds", round(elapsed, 1))
    assert w.running(), f"worker died:\n{w.log()[-3000:]}"
    after_bytes = env.config_path.read_bytes()
    # ask with the endpoint given explicitly: a wrongly accepted config may have broken the file's
    res = env.ctl("--endpoint", good["control"]["endpoint"], "status", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    st = json.loads(res.stdout)
    lk = st["links"][0]
    record("bad_input", "push-config: config file bytes unchanged", after_bytes == before_bytes)
    assert not accepted, f"{len(accepted)} bad config(s) accepted: {accepted}"
    assert not unnamed, f"refusals that do not name the field: {unnamed[:10]}"
    assert not wrong_code, wrong_code[:10]
    assert after_bytes == before_bytes, "the config file on disk changed"
    assert (lk["id"], lk["room"]) == ("a", ROOM) and st["ami"]["ready"], st
    env.assert_no_lone()


def test_php_validator_fuzzed() -> None:
    rooms = {"CONFERENCE-354233": "354233", "CONFERENCE-LAB": ROOM}
    providers = {"SIP-1601534775": "SIP-1601534775"}
    base = {"conference_uniqid": "CONFERENCE-LAB", "provider_uniqid": "SIP-1601534775", "dst_number": "600",
            "dtmf": "12#", "dtmf_delay": "1", "callerid": "4930", "ring_timeout": "60", "arm_delay": "0",
            "linger": "0", "max_attempts": "5", "backoff": "5,15,30", "redial_on_drop": "1", "enabled": "1",
            "description": "office", "id": "7"}
    text_fields = ["conference_uniqid", "provider_uniqid", "dst_number", "dtmf", "callerid", "dtmf_delay",
                   "ring_timeout", "arm_delay", "linger", "max_attempts", "backoff", "redial_on_drop", "enabled",
                   "id", "description"]
    cases = []
    for field in text_fields:
        for label, build in INJECTIONS:
            if field == "description" and label not in ("newline", "trailing-newline", "cr", "nul", "10kB"):
                continue  # free text: punctuation and letters are legitimate there
            cases.append({"field": field, "value": build(base[field]), "label": label})
        for label, value in (("array", ["1"]), ("object", {"a": "1"}), ("null", None)):
            if field == "id" and label == "null":
                continue  # no id = a new row
            cases.append({"field": field, "value": value, "label": label})
    payload = {"rooms": rooms, "providers": providers, "base": base, "cases": cases}
    res = subprocess.run(["php", str(FAULTS / "php" / "validate.php")], input=json.dumps(payload),
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert len(out) == len(cases)
    missed = [(c["field"], c["label"], o["values"].get(c["field"])) for c, o in zip(cases, out, strict=True)
              if c["field"] not in o["errors"]]
    other = [(c["field"], c["label"], sorted(o["errors"])) for c, o in zip(cases, out, strict=True)
             if set(o["errors"]) - {c["field"]}]
    record("bad_input", "PHP validator cases", len(cases))
    record("bad_input", "PHP validator fields fuzzed", len(text_fields))
    record("bad_input", "PHP validator accepted (must be 0)", [f"{f} {lbl}" for f, lbl, _ in missed])
    assert not missed, f"PHP LinkValidator accepted: {missed}"
    assert not other, f"errors reported on the wrong field: {other[:10]}"

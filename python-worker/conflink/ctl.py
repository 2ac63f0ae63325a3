"""conflink-ctl: command-line client of the worker's control socket.

Exit codes: 0 the worker accepted the request; 1 the worker answered with an error;
2 a local problem (usage, unreadable or invalid file); 3 no (usable) answer within the timeout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any, TextIO

import yaml
import zmq

from .config import DEFAULT_ENDPOINT

DEFAULT_TIMEOUT = 3.0
MAX_REQUEST_BYTES = 1 << 20  # the worker's limit (conflink.control.MAX_REQUEST_BYTES)

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_LOCAL = 2
EXIT_NO_ANSWER = 3


class CtlError(Exception):
    def __init__(self, message: str, code: int = EXIT_LOCAL) -> None:
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------ transport


def request(endpoint: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One request on a fresh REQ socket; never waits longer than ``timeout`` seconds."""
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
    if len(body) > MAX_REQUEST_BYTES:
        raise CtlError(f"request is {len(body)} bytes, more than the worker accepts ({MAX_REQUEST_BYTES})")
    ms = max(1, int(timeout * 1000))
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.REQ)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDTIMEO, ms)
            sock.setsockopt(zmq.RCVTIMEO, ms)
            if endpoint.startswith("tcp://["):
                sock.setsockopt(zmq.IPV6, 1)
            try:
                sock.connect(endpoint)
            except zmq.ZMQError as e:
                raise CtlError(f"cannot connect to {endpoint}: {e}") from e
            deadline = time.monotonic() + timeout
            try:
                # Without a peer the message is only queued; the receive below is what times out.
                sock.send(body)
            except zmq.Again as e:
                raise CtlError(_no_answer(endpoint, timeout), EXIT_NO_ANSWER) from e
            remaining = max(0.0, deadline - time.monotonic())
            if not sock.poll(int(remaining * 1000) or 1, zmq.POLLIN):
                raise CtlError(_no_answer(endpoint, timeout), EXIT_NO_ANSWER)
            raw = sock.recv()
        finally:
            sock.close(linger=0)
    finally:
        ctx.term()
    try:
        reply = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CtlError(f"unreadable answer from {endpoint}: {e}", EXIT_NO_ANSWER) from e
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise CtlError(f"unexpected answer from {endpoint}: {raw[:200]!r}", EXIT_NO_ANSWER)
    return reply


def _no_answer(endpoint: str, timeout: float) -> str:
    return f"no answer from conflink-worker at {endpoint} within {timeout:g} s (is it running?)"


# ------------------------------------------------------------------ inputs


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise CtlError(f"{source}: not valid YAML{where}: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise CtlError(f"{source}: not valid YAML: {e}") from None


def _read_text(path: str, stdin: TextIO) -> tuple[str, str]:
    if path == "-":
        return stdin.read(), "<stdin>"
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(), path
    except FileNotFoundError:
        raise CtlError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CtlError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise CtlError(f"{path}: {e.strerror or e}") from None


def control_from_config(path: str) -> tuple[str, str]:
    """(endpoint, token) from a worker config file; only its control section has to be valid.

    A missing or empty file gives the defaults: the worker also serves the default endpoint
    while it waits for its first config.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return DEFAULT_ENDPOINT, ""
    except (OSError, UnicodeDecodeError) as e:
        raise CtlError(f"--config {path}: cannot read: {e}") from None
    doc = _load_yaml(text, f"--config {path}")
    if doc is None:
        return DEFAULT_ENDPOINT, ""
    if not isinstance(doc, dict):
        raise CtlError(f"--config {path}: expected a mapping at the top level")
    control = doc.get("control")
    if control is None:
        return DEFAULT_ENDPOINT, ""
    if not isinstance(control, dict):
        raise CtlError(f"--config {path}: control: expected a mapping")
    endpoint = control.get("endpoint", DEFAULT_ENDPOINT)
    if not isinstance(endpoint, str) or not endpoint.startswith(("tcp://", "ipc://")):
        raise CtlError(f"--config {path}: control.endpoint: {endpoint!r} is not a tcp:// or ipc:// endpoint")
    token = control.get("token", "")
    if token is None:
        token = ""
    if not isinstance(token, str):
        raise CtlError(f"--config {path}: control.token: must be a string")
    return endpoint, token


# ------------------------------------------------------------------ output


def _fmt_seconds(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return "-"
    v = max(0.0, float(v))
    if v < 60:
        return f"{v:.0f}s" if v >= 10 else f"{v:.1f}s"
    if v < 3600:
        return f"{int(v // 60)}m{int(v % 60):02d}s"
    if v < 86400:
        return f"{int(v // 3600)}h{int(v % 3600 // 60):02d}m"
    return f"{int(v // 86400)}d{int(v % 86400 // 3600):02d}h"


def _since(link: dict[str, Any]) -> str:
    """Age of the external call; accepts a duration or an epoch timestamp."""
    for key in ("external_for", "external_duration", "connected_for"):
        if key in link:
            return _fmt_seconds(link[key])
    v = link.get("external_since")
    if isinstance(v, int | float) and not isinstance(v, bool):
        return _fmt_seconds(time.time() - v if v > 1e9 else v)
    if isinstance(v, str) and v:
        return v
    return ""


def _last_error(link: dict[str, Any]) -> str:
    text = _cell(link.get("last_error"))
    stopped = link.get("stopped_reason")
    if stopped:
        text = f"{text} [stopped: {stopped}]" if text != "-" else f"[stopped: {stopped}]"
    return text


def _cell(v: Any) -> str:
    if v is None or v == "":
        return "-"
    return str(v).replace("\n", " ")


def _far_end(link: dict[str, Any]) -> str:
    """far_end as people read it: "sending_dtmf 2/3" while the sequence goes out."""
    far = link.get("far_end")
    if not far:
        return "-"
    text = _cell(far)
    step, steps = link.get("dtmf_step"), link.get("dtmf_steps")
    if far == "sending_dtmf" and isinstance(step, int) and isinstance(steps, int) and steps:
        text += f" {step}/{steps}"
    return text


def _used_today(link: dict[str, Any]) -> str:
    """Connected time today, against the daily budget when the link has one."""
    used = _fmt_seconds(link.get("used_today"))
    budget = link.get("daily_minutes")
    if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
        return f"{used}/{budget}m"
    return used


def format_status(reply: dict[str, Any]) -> str:
    lines: list[str] = []
    raw_ami = reply.get("ami")
    ami: dict[str, Any] = raw_ami if isinstance(raw_ami, dict) else {}
    ami_state = "connected" if ami.get("connected") else "DISCONNECTED"
    extra = []
    for key in ("host", "port", "state", "last_error"):
        if ami.get(key) not in (None, ""):
            extra.append(f"{key}={ami[key]}")
    lines.append(
        f"worker {reply.get('version', '?')}  uptime {_fmt_seconds(reply.get('uptime'))}  "
        f"AMI {ami_state}" + (f" ({', '.join(extra)})" if extra else "")
    )
    raw_modules = ami.get("modules")
    modules: dict[str, Any] = raw_modules if isinstance(raw_modules, dict) else {}
    missing = sorted(str(m) for m, state in modules.items() if state == "missing")
    if missing:
        lines.append(f"warning: Asterisk has not loaded {', '.join(missing)}: `p` steps wait out "
                     "prompt_timeout and dead_air is off")
    links = reply.get("links") if isinstance(reply.get("links"), list) else []
    if not links:
        lines.append("no links configured")
        return "\n".join(lines)
    header = ["LINK", "ROOM", "STATE", "FAR-END", "INT", "EXTERNAL", "SINCE", "ATTEMPTS", "NEXT", "USED", "STOP",
              "LAST ERROR"]
    rows = [header]
    for link in links:
        if not isinstance(link, dict):
            continue
        attempts = link.get("attempts")
        max_attempts = link.get("max_attempts")
        if max_attempts is None and isinstance(link.get("retry"), dict):
            max_attempts = link["retry"].get("max_attempts")
        att = "-" if attempts is None else (f"{attempts}/{max_attempts}" if max_attempts is not None else str(attempts))
        state = _cell(link.get("state"))
        if link.get("enabled") is False:
            state += " (disabled)"
        ext = link.get("external_channel")
        rows.append(
            [
                _cell(link.get("id")),
                _cell(link.get("room")),
                state,
                _far_end(link),
                _cell(link.get("internal_participants")),
                _cell(ext),
                _since(link) if ext else "-",
                att,
                _fmt_seconds(link.get("next_attempt_in")),
                _used_today(link),
                _cell(link.get("stop")),
                _last_error(link),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    return "\n".join(lines)


def _print_reply(reply: dict[str, Any], out: TextIO) -> None:
    if reply.get("ok"):
        msg = "ok"
        # First line "ok {json}" is what machines read (the PHP side); note lines are for people.
        details = {k: v for k, v in reply.items() if k != "ok"}
        notes = details.get("notes")
        if details:
            msg += " " + json.dumps(details, ensure_ascii=False)
        print(msg, file=out)
        if isinstance(notes, list):
            for n in notes:
                print(f"note: {n}", file=out)
    else:
        print(f"error: {reply.get('error', 'failed')}", file=out)


# ------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="conflink-ctl", description="Control a running conflink-worker.")
    p.add_argument("--endpoint", help=f"control endpoint (default: from --config, else {DEFAULT_ENDPOINT})")
    p.add_argument("--token", help="control token (default: control.token from --config)")
    p.add_argument("--config", metavar="PATH", help="worker config file to take control.endpoint/token from")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait (default 3)")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    sub.add_parser("ping", help="check that the worker answers")
    pc = sub.add_parser("push-config", help="send a config document (YAML or JSON) to the worker")
    pc.add_argument("file", metavar="FILE|-")
    st = sub.add_parser("status", help="show every link's live state")
    st.add_argument("--json", action="store_true", help="print the raw JSON answer")
    d = sub.add_parser("dial", help="dial a link's external call now")
    d.add_argument("link")
    d.add_argument("--force", action="store_true", help="dial even without internal participants")
    d.add_argument("--seconds", type=float, help="keep a forced call up this long")
    h = sub.add_parser("hangup", help="hang up a link's external call")
    h.add_argument("link")
    t = sub.add_parser("dtmf", help="send DTMF digits (0-9 * # A-D) to the far end on the live call")
    t.add_argument("link")
    t.add_argument("digits")
    m = sub.add_parser("mute", help="mute the external party in the room")
    m.add_argument("link")
    u = sub.add_parser("unmute", help="unmute the external party in the room")
    u.add_argument("link")
    return p


def main(argv: list[str] | None = None, *, stdin: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stdin = stdin if stdin is not None else sys.stdin
    try:
        return _run(args, stdin)
    except CtlError as e:
        print(f"conflink-ctl: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, stdin: TextIO) -> int:
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= 3600):
        raise CtlError("--timeout must be a number of seconds > 0 and <= 3600")
    endpoint, token = DEFAULT_ENDPOINT, ""
    if args.config:
        endpoint, token = control_from_config(args.config)
    if args.endpoint:
        endpoint = args.endpoint
    if args.token is not None:
        token = args.token

    payload: dict[str, Any]
    if args.cmd == "ping":
        payload = {"cmd": "ping"}
    elif args.cmd == "status":
        payload = {"cmd": "status"}
    elif args.cmd == "push-config":
        text, source = _read_text(args.file, stdin)
        doc = _load_yaml(text, source)
        if not isinstance(doc, dict):
            raise CtlError(f"{source}: expected a config mapping (version: 1, ...), got {type(doc).__name__}")
        payload = {"cmd": "apply_config", "config": doc}
    elif args.cmd == "dial":
        payload = {"cmd": "dial", "link": args.link, "force": bool(args.force)}
        if args.seconds is not None:
            payload["seconds"] = args.seconds
    elif args.cmd == "dtmf":
        payload = {"cmd": "dtmf", "link": args.link, "digits": args.digits}
    elif args.cmd in ("mute", "unmute"):
        payload = {"cmd": args.cmd, "link": args.link}
    else:
        payload = {"cmd": "hangup", "link": args.link}
    if token:
        payload["token"] = token

    try:
        reply = request(endpoint, payload, args.timeout)
    except (TypeError, ValueError) as e:  # e.g. a YAML date or NaN that JSON cannot carry
        raise CtlError(f"cannot encode the request as JSON: {e}") from None

    if args.cmd == "status":
        if getattr(args, "json", False):
            print(json.dumps(reply, ensure_ascii=False, indent=2))
        elif reply.get("ok"):
            print(format_status(reply))
        else:
            _print_reply(reply, sys.stdout)
    else:
        _print_reply(reply, sys.stdout)
    return EXIT_OK if reply.get("ok") else EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())

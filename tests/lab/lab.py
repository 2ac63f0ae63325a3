"""A real Asterisk 22 lab for the end-to-end tests, the benchmarks and the demo.

Import it as ``lab`` with ``tests/lab`` on ``sys.path`` (tests/e2e/pytest.ini and
tests/e2e/conftest.py do that; scripts do ``sys.path.insert(0, "<repo>/tests/lab")``)::

    from lab import Lab
    with Lab() as L:
        sipp = L.sipp("answer-and-hold")
        h = L.join("354233")
        ...

What one ``Lab`` is:
- an Asterisk from the Debian sid root (``CONFLINK_ASTERISK_ROOT``, default
  /var/cache/conflink/asterisk-root, built by tests/lab/build-root.sh), run with ``chroot``, with
  its own config/run/log/spool/db folders under ``<root>/tmp/conflink-lab-*`` and its own ports
  (AMI, PJSIP UDP, RTP range), so several labs can run at once;
- a PJSIP endpoint ``SIP-TEST`` (more with ``endpoints=``) whose contact is a SIPp port: SIPp plays
  the provider and the remote conference;
- a stand-in for MikoPBX's room context (``lab-conference-rooms``), stand-ins for
  ``AGI(meetme_dial.php)`` and ``hangup_handler_meetme``, and the module's ``conflink-join``
  context exactly as ``php bin/conflink-dialplan.php`` renders it;
- an AMI user for the worker (``conflink``) and one for the lab itself, whose connection records
  every event with its arrival time.

The lab's AMI client reads in one background thread on purpose: the tests are plain sequential
scripts that block while waiting, and the events must still be timestamped when they arrive.
Everything the lab starts (Asterisk, SIPp, the worker) is stopped by its own PID.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import itertools
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAB_DIR = Path(__file__).resolve().parent
REPO = LAB_DIR.parent.parent
SIPP_DIR = LAB_DIR / "sipp"
DEFAULT_ROOT = "/var/cache/conflink/asterisk-root"
ROOM_CONTEXT = "lab-conference-rooms"
BENCH_ROOM_CONTEXT = "lab-bench-rooms"  # cheap internal participants (the scale benchmark)
JOIN_CONTEXT = "conflink-join"
WORKER_AMI_USER = "conflink"
# Uniqueid prefix of the lab's own internal participants; never "conflink-".
INTERNAL_PREFIX = "labjoin-"

# Defaults for the @NAME@ placeholders of the templated SIPp scenarios.
SIPP_DEFAULTS = {"BUSY_CALLS": "2", "BYE_CALLS": "1", "HOLD_MS": "3000"}

# Modules the lab loads (autoload=no keeps boot fast and opens no port but ours).
MODULES = [
    "res_timing_timerfd", "res_sorcery_config", "res_sorcery_memory", "res_sorcery_astdb",
    "res_pjproject", "res_pjsip", "res_pjsip_session", "res_pjsip_pubsub", "res_pjsip_sdp_rtp",
    "res_pjsip_endpoint_identifier_ip", "res_pjsip_caller_id", "res_pjsip_dtmf_info",
    "res_pjsip_rfc3326", "res_pjsip_logger", "chan_pjsip", "res_rtp_asterisk", "codec_ulaw",
    "format_pcm", "format_wav", "format_gsm", "bridge_simple", "bridge_softmix", "app_confbridge",
    "pbx_config", "app_dial", "app_senddtmf", "app_exec", "app_stack", "app_verbose", "app_echo",
    "app_system", "res_speech", "res_agi", "func_channel", "func_strings", "func_callerid", "func_logic",
    "func_math", "func_cdr",
    # the join context's far-end handling (p steps, talk events) and the measurement dialplans
    "func_talkdetect", "app_waitforcond", "func_module", "app_userevent", "func_cut", "app_waitforsilence",
    "app_talkdetect",
    "res_musiconhold", "app_playback",
    # announcements into the room (the core sounds are GSM files)
    "codec_gsm",
    # call history rows (Core's insert_cdr through CELGenUserEvent, base64 JSON)
    "app_celgenuserevent", "func_base64",
]
# Lab(cel=True): Core's cel.conf (CelConf.php), with the AMI backend standing in for
# cel_beanstalkd (no beanstalkd here); show_user_defined names the event USER_DEFINED as
# cel_beanstalkd does (cel_manager would otherwise put the user event's name in EventName).
CEL_CONF = ("[general]\nenable=yes\nevents=USER_DEFINED,ANSWER,ATTENDEDTRANSFER\ndateformat = %F %T\n\n"
            "[manager]\nenabled = yes\nshow_user_defined = yes\n")

# With Lab(core_src=): what MikoPBX Core's own Lua dialplan (extensions.lua, through pbx_lua)
# and its outgoing contexts need beyond MODULES.
CORE_MODULES = [
    "pbx_lua", "func_dialplan", "func_global", "func_export", "app_mixmonitor",
    "func_pjsip_endpoint", "res_pjsip_header_funcs", "func_db", "func_uri",
]
# Where Core's extensions.lua loads its JSON library from (a path of a MikoPBX system).
CORE_WWW_SRC = "/usr/www/src"

_LIVE: set[Any] = set()  # everything started and not yet stopped, for the atexit safety net


class LabError(RuntimeError):
    """The lab cannot do what was asked (missing root, sipp, php, a timeout...)."""


def asterisk_root() -> Path:
    return Path(os.environ.get("CONFLINK_ASTERISK_ROOT", DEFAULT_ROOT))


def check_prerequisites() -> None:
    """Raise LabError naming what is missing: the suites must fail, never skip."""
    root = asterisk_root()
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (it runs Asterisk with chroot)")
    if not (root / "usr/sbin/asterisk").exists():
        problems.append(f"no Asterisk root at {root} (run: sudo tests/lab/build-root.sh)")
    if shutil.which("sipp") is None:
        problems.append("sipp not found (Debian package sip-tester; tests/lab/build-root.sh installs it)")
    if problems:
        raise LabError("; ".join(problems))


# ---------------------------------------------------------------------------------------------
# ports

_port_lock = threading.Lock()
_handed_out: set[int] = set()


def _port_free(port: int, udp: bool = True, tcp: bool = True) -> bool:
    kinds = ([socket.SOCK_DGRAM] if udp else []) + ([socket.SOCK_STREAM] if tcp else [])
    for kind in kinds:
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Below the kernel's ephemeral range: a port checked free there can be taken a moment later by
# any outgoing connection's local port (seen: Asterisk's AMI bind "Address already in use").
EPHEMERAL_LOW = _ephemeral_low()


def _span(base: int, size: int, step: int) -> set[int]:
    return set(range(base, base + size * step + 4))


def free_port_block(size: int = 1, step: int = 1, lo: int = 20000, hi: int = EPHEMERAL_LOW) -> int:
    """First port of `size` consecutive free ports (UDP and TCP), not handed out by this process
    and not yet given back (release_port_block). Random start points keep parallel processes
    from picking the same block; a sweep after them finds a block whenever one exists."""
    top = hi - size * step - 4
    random_bases = (random.randrange(lo, top) for _ in range(200))
    offset = random.randrange(lo, top)
    sweep = (lo + (offset - lo + i) % (top - lo) for i in range(top - lo))
    with _port_lock:
        for candidate in itertools.chain(random_bases, sweep):
            base = candidate // 2 * 2  # even: RTP ranges like it
            ports = range(base, base + size * step, step) if size > 1 else [base]
            span = _span(base, size, step)
            if span & _handed_out:
                continue
            if all(_port_free(p) for p in ports):
                _handed_out.update(span)
                return base
        raise LabError(f"no block of {size} free ports found between {lo} and {hi}")


def release_port_block(base: int, size: int = 1, step: int = 1) -> None:
    """Give a block back once whatever bound it has exited (a long session would run dry)."""
    with _port_lock:
        _handed_out.difference_update(_span(base, size, step))


# ---------------------------------------------------------------------------------------------
# AMI


class AmiClient:
    """Minimal AMI client: one reader thread, actions answered by ActionID, every event kept with
    its arrival time in ``self.events`` (keys ``_t`` = time.time(), ``_mono`` = time.monotonic())."""

    def __init__(self, host: str, port: int, username: str, secret: str, timeout: float = 20.0):
        self.host, self.port = host, port
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._pending: dict[str, dict[str, Any]] = {}
        self._closed = False
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.create_connection((host, port), timeout=2)
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise LabError(f"AMI {host}:{port} not reachable: {exc}") from exc
                time.sleep(0.05)
        self._sock.settimeout(None)
        self._file = self._sock.makefile("rb")
        self.greeting = self._file.readline().decode(errors="replace").strip()
        self._thread = threading.Thread(target=self._reader, name=f"ami-{port}", daemon=True)
        self._thread.start()
        resp = self.action({"Action": "Login", "Username": username, "Secret": secret}, timeout=10)
        if resp[0].get("Response") != "Success":
            raise LabError(f"AMI login as {username} failed: {resp[0]}")

    def _reader(self) -> None:
        msg: dict[str, Any] = {}
        try:
            for raw in self._file:
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line:
                    key, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if key in msg:
                        prev = msg[key]
                        msg[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
                    else:
                        msg[key] = value
                    continue
                if msg:
                    self._dispatch(msg)
                    msg = {}
        except (OSError, ValueError):
            pass
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        msg["_t"] = time.time()
        msg["_mono"] = time.monotonic()
        with self._cond:
            aid = msg.get("ActionID")
            pending = self._pending.get(aid) if isinstance(aid, str) else None
            if pending is not None:
                pending["msgs"].append(msg)
                if "Response" in msg and len(pending["msgs"]) == 1:
                    if str(msg.get("EventList", "")).lower() != "start":
                        pending["done"] = True
                elif str(msg.get("EventList", "")).lower() == "complete":
                    pending["done"] = True
            else:
                self.events.append(msg)
            self._cond.notify_all()

    def action(self, fields: dict[str, Any], timeout: float = 10.0) -> list[dict[str, Any]]:
        """Send one action; return [Response, list items…] (the list is complete)."""
        aid = f"lab-{uuid.uuid4().hex[:12]}"
        lines = [f"ActionID: {aid}"]
        for key, value in fields.items():
            for v in value if isinstance(value, list | tuple) else [value]:
                lines.append(f"{key}: {v}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        with self._cond:
            if self._closed:
                raise LabError("AMI connection is closed")
            self._pending[aid] = {"msgs": [], "done": False}
        self._sock.sendall(data)
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._pending[aid]["done"]:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    self._pending.pop(aid, None)
                    raise LabError(f"AMI action {fields.get('Action')} got no complete answer")
                self._cond.wait(left)
            return self._pending.pop(aid)["msgs"]

    def wait_event(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float, start: int = 0
    ) -> dict[str, Any]:
        """First event (index >= start) matching pred; waits up to timeout s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise LabError(f"no matching AMI event within {timeout} s")
                self._cond.wait(left)

    def find_events(self, name: str | None = None, start: int = 0, **match: str) -> list[dict[str, Any]]:
        with self._cond:
            evs = self.events[start:]
        return [
            e for e in evs
            if (name is None or e.get("Event") == name) and all(e.get(k) == v for k, v in match.items())
        ]

    def mark(self) -> int:
        """Index to pass as `start` to look only at events from now on."""
        with self._cond:
            return len(self.events)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()
        self._thread.join(timeout=2)


def ami_list(resp: list[dict[str, Any]], item_event: str) -> list[dict[str, Any]]:
    return [m for m in resp if m.get("Event") == item_event]


# ---------------------------------------------------------------------------------------------
# SIPp


@dataclass
class SipMsg:
    t: float  # time.time() when SIPp logged it
    direction: str  # "in" (SIPp received) or "out" (SIPp sent)
    method: str | None  # request method, None for responses
    status: int | None  # response code, None for requests
    call_id: str
    cseq: int
    cseq_method: str
    ruri_user: str | None  # user part of the request URI (the dialled number)
    digit: str | None  # INFO Signal=
    raw: str = field(repr=False, default="")


_SIPP_SEP = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d+)\s*$", re.M)


def parse_sipp_messages(text: str) -> list[SipMsg]:
    """Parse a SIPp -trace_msg message file."""
    out: list[SipMsg] = []
    parts = _SIPP_SEP.split(text)
    # parts = [preamble, date, time, body, date, time, body, ...]
    for i in range(1, len(parts) - 2, 3):
        stamp = _dt.datetime.strptime(f"{parts[i]} {parts[i + 1][:15]}", "%Y-%m-%d %H:%M:%S.%f")
        body = parts[i + 2].lstrip("\n")
        head, _, sip = body.partition("\n\n")
        if "received" in head:
            direction = "in"
        elif "sent" in head:
            direction = "out"
        else:
            continue
        sip = sip.replace("\r\n", "\n").lstrip("\n")
        if not sip.strip():
            continue
        first, _, rest = sip.partition("\n")
        headers_txt, _, payload = rest.partition("\n\n")
        headers: dict[str, str] = {}
        for h in headers_txt.split("\n"):
            k, _, v = h.partition(":")
            headers.setdefault(k.strip().lower(), v.strip())
        method = status = ruri_user = None
        if first.startswith("SIP/2.0"):
            with contextlib.suppress(IndexError, ValueError):
                status = int(first.split()[1])
        else:
            method = first.split()[0]
            m = re.match(r"\S+\s+sips?:([^@;>\s]+)@", first)
            ruri_user = m.group(1) if m else None
        cseq_txt = headers.get("cseq", "0 ?").split()
        digit = None
        if method == "INFO":
            m = re.search(r"Signal\s*=\s*(\S+)", payload)
            digit = m.group(1) if m else None
        out.append(
            SipMsg(
                t=stamp.timestamp(), direction=direction, method=method, status=status,
                call_id=headers.get("call-id", headers.get("i", "")),
                cseq=int(cseq_txt[0]) if cseq_txt and cseq_txt[0].isdigit() else 0,
                cseq_method=cseq_txt[1] if len(cseq_txt) > 1 else "",
                ruri_user=ruri_user, digit=digit, raw=sip,
            )
        )
    return out


def _first_per_transaction(msgs: Iterable[SipMsg]) -> list[SipMsg]:
    """Drop retransmissions: keep the first message per (direction, call, cseq, kind)."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for m in msgs:
        key = (m.direction, m.call_id, m.cseq, m.cseq_method, m.method, m.status)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


class Sipp:
    """One SIPp UAS, run in the foreground under our own process handle, stopped by its PID."""

    def __init__(self, scenario: str | Path, port: int, media_port: int, workdir: Path,
                 params: dict[str, str | int | float] | None = None, max_calls: int | None = None):
        if shutil.which("sipp") is None:
            raise LabError("sipp not found (Debian package sip-tester)")
        src = Path(scenario) if str(scenario).endswith(".xml") else SIPP_DIR / f"{scenario}.xml"
        if not src.exists():
            raise LabError(f"SIPp scenario not found: {src}")
        text = src.read_text()
        values = {**SIPP_DEFAULTS, **{k: str(v) for k, v in (params or {}).items()}}
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        if re.search(r"@[A-Z_]+@", text):
            raise LabError(f"scenario {src.name} has unfilled placeholders: {re.findall(r'@[A-Z_]+@', text)}")
        self.name = src.stem
        self.port, self.media_port = port, media_port
        tag = f"{self.name}-{port}-{uuid.uuid4().hex[:6]}"
        self.scenario_file = workdir / f"{tag}.xml"
        self.scenario_file.write_text(text)
        self.message_file = workdir / f"{tag}.messages.log"
        self.error_file = workdir / f"{tag}.errors.log"
        self.output_file = workdir / f"{tag}.out"
        self.message_file.touch()
        cmd = [
            "sipp", "-sf", str(self.scenario_file), "-i", "127.0.0.1", "-p", str(port),
            "-mp", str(media_port), "-nostdin", "-trace_msg", "-message_file", str(self.message_file),
            "-trace_err", "-error_file", str(self.error_file),
        ]
        if max_calls is not None:
            cmd += ["-l", str(max_calls)]  # concurrent calls SIPp accepts (load tests)
        self._out = open(self.output_file, "wb")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )
        _LIVE.add(self)
        deadline = time.monotonic() + 5
        while _port_free(port, tcp=False):
            if self.proc.poll() is not None:
                raise LabError(f"sipp exited at start ({self.proc.returncode}): {self.output_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise LabError(f"sipp did not bind UDP port {port}")
            time.sleep(0.02)

    def output_tail(self, n: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.output_file.read_text(errors="replace")[-n:]
        return ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc, 3.0)
        with contextlib.suppress(OSError):
            self._out.close()
        _LIVE.discard(self)

    # --- what SIPp saw ---------------------------------------------------------------------
    def messages(self) -> list[SipMsg]:
        return parse_sipp_messages(self.message_file.read_text(errors="replace"))

    def invites(self) -> list[SipMsg]:
        """INVITEs received (initial ones, retransmissions dropped)."""
        return _first_per_transaction(m for m in self.messages() if m.direction == "in" and m.method == "INVITE")

    def answers(self) -> list[SipMsg]:
        """200 OK to INVITE sent by SIPp (one per answered call)."""
        return _first_per_transaction(
            m for m in self.messages() if m.direction == "out" and m.status == 200 and m.cseq_method == "INVITE"
        )

    def finals(self) -> list[SipMsg]:
        """Final responses (>= 200) SIPp sent to INVITEs."""
        return _first_per_transaction(
            m for m in self.messages()
            if m.direction == "out" and m.status is not None and m.status >= 200 and m.cseq_method == "INVITE"
        )

    def infos(self, call_id: str | None = None) -> list[SipMsg]:
        """INFO requests received (DTMF), in order."""
        return _first_per_transaction(
            m for m in self.messages()
            if m.direction == "in" and m.method == "INFO" and (call_id is None or m.call_id == call_id)
        )

    def digits(self, call_id: str | None = None) -> str:
        return "".join(m.digit or "?" for m in self.infos(call_id))

    def byes(self, direction: str | None = None) -> list[SipMsg]:
        """BYE requests; direction "in" = from Asterisk, "out" = sent by SIPp."""
        return _first_per_transaction(
            m for m in self.messages()
            if m.method == "BYE" and (direction is None or m.direction == direction)
        )

    def cancels(self) -> list[SipMsg]:
        return _first_per_transaction(m for m in self.messages() if m.direction == "in" and m.method == "CANCEL")

    def wait_for(self, getter: Callable[[], list[SipMsg]], count: int = 1, timeout: float = 10.0) -> list[SipMsg]:
        """Poll until getter() returns at least `count` messages; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            got = getter()
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise LabError(
                    f"SIPp {self.name}: wanted {count} from {getattr(getter, '__name__', 'getter')}, "
                    f"got {len(got)} within {timeout} s"
                )
            time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# the worker under test


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> float:
    """The one "wait until" of the lab suites: poll `condition` until it holds or `timeout`
    seconds pass (then AssertionError naming `what`). Returns the seconds waited."""
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(interval)
    return time.monotonic() - t0


def wait_value(check: Callable[[], Any], timeout: float, what: str, detail: Callable[[], str] | None = None,
               interval: float = 0.02) -> Any:
    """wait_until for a check that returns what it found: that (truthy) value. On timeout the
    AssertionError adds `detail()` (a worker log, a lab dump) when given."""
    found: Any = None

    def holds() -> bool:
        nonlocal found
        found = check()
        return bool(found)

    try:
        wait_until(holds, timeout, what, interval)
    except AssertionError as exc:
        if detail is None:
            raise
        raise AssertionError(f"{exc}\n{detail()}") from None
    return found


def observe(seconds: float, why: str) -> None:
    """A window in which something must NOT happen (a second dial, a stray hang-up): the only
    fixed pause the suites use. `why` says what would show up in it; never synchronisation."""
    assert why, "say what the window is for"
    time.sleep(seconds)


def stop_process(proc: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM a child of ours, SIGKILL it if it has not exited within `timeout` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def worker_bin() -> Path:
    """conflink-worker of the venv running this Python (or CONFLINK_WORKER_BIN)."""
    env = os.environ.get("CONFLINK_WORKER_BIN")
    candidates = [Path(env)] if env else []
    candidates += [Path(sys.executable).parent / "conflink-worker", REPO / ".venv/bin/conflink-worker"]
    for c in candidates:
        if c.exists() and os.access(c, os.X_OK):
            return c
    raise LabError(
        "conflink-worker not found (looked at " + ", ".join(map(str, candidates))
        + "): run `make deps` or `pip install -e ./python-worker` in the venv"
    )


class Worker:
    """`conflink-worker --config PATH` as a subprocess; stderr goes to `log_file`."""

    def __init__(self, config_path: Path, log_file: Path, extra_args: Iterable[str] = ()):
        self.config_path, self.log_file = config_path, log_file
        self.cmd = [str(worker_bin()), "--config", str(config_path), *extra_args]
        self._log = open(log_file, "ab")
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started = time.time()
        _LIVE.add(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_file.read_text(errors="replace")
        return ""

    def stop(self, timeout: float = 2.0) -> tuple[float, int | None]:
        """SIGTERM; returns (seconds until exit, exit code). Killed with SIGKILL (code None
        returned as the real code) if it does not exit within `timeout`."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - t0
                self.kill()
                return elapsed, None
        elapsed = time.monotonic() - t0
        self._close()
        return elapsed, self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self._close()

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self._log.close()
        _LIVE.discard(self)


# ---------------------------------------------------------------------------------------------
# the conflink-join dialplan


TEMPLATES = Path(__file__).resolve().parent / "asterisk"
EMPTY_CONFIGS = ("cdr.conf", "cel.conf", "features.conf", "acl.conf", "udptl.conf", "ccss.conf",
                 "indications.conf", "musiconhold.conf", "res_agi.conf", "pjproject.conf",
                 "sorcery.conf", "extconfig.conf", "cli.conf")


def sound_names(root: Path, language: str) -> set[str]:
    """The sounds Asterisk in `root` has for `language` (paths without extension, like Playback's
    argument). Read inside the root: its language folders are links into /etc/alternatives."""
    folder = f"/usr/share/asterisk/sounds/{language}"
    res = subprocess.run(["chroot", str(root), "find", "-L", folder, "-type", "f"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return set()
    return {line[len(folder) + 1:].rsplit(".", 1)[0] for line in res.stdout.splitlines() if line}


def render_template(name: str, **values: str) -> str:
    """tests/lab/asterisk/<name> with each @KEY@ replaced; a placeholder left unfilled is an error."""
    text = (TEMPLATES / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise LabError(f"template {name}: no value for {', '.join(sorted(set(left)))}")
    return text


def render_join_dialplan() -> str:
    """The module's dialplan as `php bin/conflink-dialplan.php` prints it. Missing php or script
    is an error: the lab must run the product's own dialplan."""
    php = shutil.which("php")
    script = REPO / "bin/conflink-dialplan.php"
    if php is None:
        raise LabError("php CLI not found: the lab loads the dialplan rendered by bin/conflink-dialplan.php")
    if not script.exists():
        raise LabError(f"{script} is missing: the lab loads the dialplan it renders")
    res = subprocess.run([php, str(script)], capture_output=True, text=True, timeout=30, cwd=REPO)
    if res.returncode != 0:
        raise LabError(f"php {script} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    if f"[{JOIN_CONTEXT}]" not in res.stdout:
        raise LabError(f"php {script} printed no [{JOIN_CONTEXT}] context:\n{res.stdout[:2000]}")
    return res.stdout


def render_worker_manager_user(username: str, secret: str) -> str:
    """The worker's AMI user exactly as the module writes it into manager.conf (rights and event
    filters), from `php bin/conflink-manager-user.php`: the worker runs under the real limits."""
    php = shutil.which("php")
    script = REPO / "bin/conflink-manager-user.php"
    if php is None or not script.exists():
        raise LabError(f"php or {script} missing: the lab runs the worker under the module's AMI user")
    res = subprocess.run([php, str(script), username, secret], capture_output=True, text=True, timeout=30, cwd=REPO)
    if res.returncode != 0 or f"[{username}]" not in res.stdout:
        raise LabError(f"php {script} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout


# ---------------------------------------------------------------------------------------------
# the lab


@dataclass
class JoinHandle:
    """An internal participant made by Lab.join()."""

    id: str  # ChannelId of the ;1 half; the ConfBridge member is "<id>;2"
    room: str
    channel: str = ""  # name of the channel in the ConfBridge (Local/...;2)
    uniqueid: str = ""
    # time.time() just before its Originate was written: the earliest moment anything caused
    # by the join can happen. join_t is when the lab's AMI reader thread stamped the
    # ConfbridgeJoin; under load that stamp can be later than the worker's reaction to it.
    sent_t: float = 0.0
    join_t: float = 0.0  # time.time() of its ConfbridgeJoin
    leave_t: float = 0.0  # time.time() of its ConfbridgeLeave


class Lab:
    """One isolated Asterisk instance plus the helpers to drive it. Use as a context manager."""

    def __init__(
        self,
        name: str = "lab",
        endpoints: Iterable[str] = ("SIP-TEST",),
        rtp_ports: int = 200,
        join_dialplan: str | None = None,
        log_verbose: int = 3,
        keep: bool | None = None,
        moh_file: Path | None = None,
        dtmf_modes: dict[str, str] | None = None,
        language: str = "en",
        cel: bool = False,
        skip_modules: Iterable[str] = (),
        extra_dialplan: str = "",
        core_src: str | None = None,
        configs: dict[str, str] | None = None,
    ):
        self.root = asterisk_root()
        # A sound file (wav) for the `default` music-on-hold class; None = no music at all.
        self.moh_file = moh_file
        # asterisk.conf defaultlanguage; its sounds folder must be in the root (build-root.sh).
        self.language = language
        # Modules of MODULES not to load: a PBX whose Asterisk lacks them.
        self.skip_modules = set(skip_modules)
        self.name = re.sub(r"[^A-Za-z0-9_-]", "_", name)
        self.endpoints = list(endpoints)
        # PJSIP dtmf_mode per endpoint (default info: SIPp logs the digits as SIP INFO).
        self.dtmf_modes = dict(dtmf_modes or {})
        self.rtp_ports = rtp_ports
        # CEL events on the lab's AMI (Event: CEL), as MikoPBX enables CEL (Lab.cel_events).
        self.cel = cel
        self._join_dialplan = join_dialplan
        # Contexts appended to extensions.conf (e.g. Core's outgoing routing, rendered by Core).
        self.extra_dialplan = extra_dialplan
        # Inner path of a MikoPBX Core tree's src/ (the rig's sources): its Lua dialplan
        # (Configs/lua/extensions.lua, copied unchanged) runs through pbx_lua, and Asterisk
        # runs in its own mount namespace where /usr is overlaid by a layer holding
        # www/src -> that tree, so Core's loadfile("/usr/www/src/...JSON.lua") resolves as on
        # a PBX without touching Core's file or the shared root.
        self.core_src = core_src
        # Asterisk config files given whole (name -> text), e.g. Core's features.conf.
        self.configs = dict(configs or {})
        self.log_verbose = log_verbose
        self.keep = bool(os.environ.get("CONFLINK_LAB_KEEP")) if keep is None else keep
        self.worker_secret = secrets.token_hex(12)
        self.lab_secret = secrets.token_hex(12)
        self.asterisk_version = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.ami: AmiClient | None = None
        self.sipps: list[Sipp] = []
        self.workers: list[Worker] = []
        self._seq = 0
        self.join_dialplan_text = ""
        self._taken_ports: list[tuple[int, int]] = []

    # --- paths ---------------------------------------------------------------------------------
    def host(self, inner: str | Path) -> Path:
        """Host path of a path inside the root."""
        return self.root / str(inner).lstrip("/")

    # --- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _take_ports(self, size: int = 1) -> int:
        base = free_port_block(size)
        self._taken_ports.append((base, size))
        return base

    def start(self) -> Lab:
        check_prerequisites()
        if not sound_names(self.root, self.language):
            raise LabError(f"no sounds for language {self.language!r} in {self.root} (run: make lab)")
        remove_stale_instances(self.root)
        self.join_dialplan_text = self._join_dialplan if self._join_dialplan is not None else render_join_dialplan()
        tmp = self.root / "tmp"
        self.dir = Path(tempfile.mkdtemp(prefix=f"conflink-lab-{self.name}-", dir=tmp))
        self.dir.chmod(0o755)
        self.inner = "/" + str(self.dir.relative_to(self.root))
        for sub in ("etc", "run", "log", "spool", "db", "agi-bin", "sipp", "work"):
            (self.dir / sub).mkdir()
        self.workdir = self.dir / "work"
        if self.keep:
            (self.dir / ".keep").touch()  # remove_stale_instances leaves it for inspection

        self.ami_port = self._take_ports()
        self.sip_port = self._take_ports()
        self.rtp_start = self._take_ports(self.rtp_ports)
        self.rtp_end = self.rtp_start + self.rtp_ports - 1
        # SIPp binds -mp and -mp+2: keep 10 ports per instance, outside the RTP range.
        self.sipp_ports = {ep: self._take_ports() for ep in self.endpoints}
        self.sipp_media_ports = {ep: self._take_ports(10) for ep in self.endpoints}
        self._write_configs()

        log = open(self.dir / "log" / "console.out", "wb")
        argv = ["chroot", str(self.root), "asterisk", "-f", "-g", "-n", "-C", f"{self.inner}/etc/asterisk.conf"]
        if self.core_src is not None:
            layer = self.dir / "usr-layer"
            (layer / CORE_WWW_SRC.removeprefix("/usr/")).parent.mkdir(parents=True)
            (layer / CORE_WWW_SRC.removeprefix("/usr/")).symlink_to(self.core_src)
            usr = self.root / "usr"
            # unshare and sh exec: the PID stays Asterisk's (stopped by it as always).
            argv = ["unshare", "--mount", "sh", "-c",
                    f"mount --make-rprivate / && mount -t overlay conflink-lab -o 'lowerdir={layer}:{usr}' '{usr}'"
                    ' && exec "$@"', "sh", *argv]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        _LIVE.add(self)
        try:
            self._wait_booted()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_booted(self, timeout: float = 30.0) -> None:
        t0 = time.monotonic()
        deadline = t0 + timeout
        while _port_free(self.ami_port, udp=False):
            if self.proc is not None and self.proc.poll() is not None:
                raise LabError(f"asterisk exited at start ({self.proc.returncode}):\n{self.console_tail()}")
            if time.monotonic() > deadline:
                raise LabError(f"asterisk AMI did not open port {self.ami_port}:\n{self.console_tail()}")
            time.sleep(0.05)
        self.ami = AmiClient("127.0.0.1", self.ami_port, "lab", self.lab_secret)
        try:
            self.ami.wait_event(lambda e: e.get("Event") == "FullyBooted", max(1.0, deadline - time.monotonic()))
        except LabError as exc:
            raise LabError(f"asterisk did not send FullyBooted within {timeout} s:\n{self.console_tail()}") from exc
        self.boot_seconds = time.monotonic() - t0
        settings = self.ami.action({"Action": "CoreSettings"})[0]
        self.asterisk_version = str(settings.get("AsteriskVersion", "?"))
        # The join context must really be loaded, or every test would fail obscurely.
        out = self.cli(f"dialplan show {JOIN_CONTEXT}")
        if f"'{JOIN_CONTEXT}'" not in out:
            raise LabError(f"context {JOIN_CONTEXT} did not load:\n{out}\n{self.console_tail()}")

    def stop(self) -> None:
        for w in list(self.workers):
            w.stop()
        for s in list(self.sipps):
            s.stop()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(LabError, subprocess.TimeoutExpired, OSError):
                self.cli("core stop now", timeout=5)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=3)
        if self.ami is not None:
            self.ami.close()
            self.ami = None
        _LIVE.discard(self)
        if self.proc is None or self.proc.poll() is not None:
            for base, size in self._taken_ports:
                release_port_block(base, size)
            self._taken_ports = []
        if not self.keep and getattr(self, "dir", None) is not None and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def console_tail(self, n: int = 3000) -> str:
        parts = []
        for f in ("log/console.out", "log/full"):
            with contextlib.suppress(OSError):
                parts.append(f"--- {f}\n" + (self.dir / f).read_text(errors="replace")[-n:])
        return "\n".join(parts)

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run an Asterisk CLI command through the remote console."""
        res = subprocess.run(
            ["chroot", str(self.root), "asterisk", "-C", f"{self.inner}/etc/asterisk.conf", "-rx", command],
            capture_output=True, text=True, timeout=timeout,
        )
        if res.returncode != 0:
            raise LabError(f"asterisk -rx {command!r} failed: {res.stderr.strip()}")
        return res.stdout

    # --- configs -------------------------------------------------------------------------------
    def _write_configs(self) -> None:
        """Asterisk's config for this instance: the templates in tests/lab/asterisk/ filled in."""
        etc = self.dir / "etc"
        for fname, text in self._config_files().items():
            (etc / fname).write_text(text)
        agi = self.dir / "agi-bin" / "meetme_dial.php"
        agi.write_text(render_template("meetme_dial.php", INNER=str(self.inner)))
        agi.chmod(0o755)

    def _config_files(self) -> dict[str, str]:
        i = str(self.inner)
        verbose = f",verbose({self.log_verbose})" if self.log_verbose else ""
        endpoints = "\n".join(render_template("pjsip-endpoint.conf", EP=ep, PORT=str(self.sipp_ports[ep]),
                                               DTMF_MODE=self.dtmf_modes.get(ep, "info"))
                               for ep in self.endpoints)
        files = {
            "asterisk.conf": render_template("asterisk.conf", INNER=i, MODDIR=self._module_dir(),
                                             LANGUAGE=self.language),
            "modules.conf": "[modules]\nautoload = no\n" + "".join(
                f"load = {m}.so\n" for m in [*MODULES, *(["cel_manager"] if self.cel else []),
                                              *(CORE_MODULES if self.core_src is not None else [])]
                if m not in self.skip_modules),
            "logger.conf": render_template("logger.conf", VERBOSE=verbose),
            "manager.conf": render_template(
                "manager.conf", AMI_PORT=str(self.ami_port), LAB_SECRET=self.lab_secret,
                WORKER_USER=render_worker_manager_user(WORKER_AMI_USER, self.worker_secret)),
            "pjsip.conf": render_template("pjsip.conf", SIP_PORT=str(self.sip_port), ENDPOINTS=endpoints),
            "rtp.conf": render_template("rtp.conf", RTP_START=str(self.rtp_start), RTP_END=str(self.rtp_end)),
            "confbridge.conf": render_template("confbridge.conf"),
            "extensions.conf": render_template("extensions.conf", ROOM_CONTEXT=ROOM_CONTEXT,
                                               BENCH_ROOM_CONTEXT=BENCH_ROOM_CONTEXT, INNER=i,
                                               JOIN_DIALPLAN=self.join_dialplan_text)
            + (f"\n; ---- Lab(extra_dialplan=) ----\n{self.extra_dialplan}\n" if self.extra_dialplan else ""),
        }
        if self.core_src is not None:
            lua = self.host(f"{self.core_src}/Core/Asterisk/Configs/lua/extensions.lua")
            if not lua.is_file():
                raise LabError(f"Lab(core_src=): no Core Lua dialplan at {lua}")
            files["extensions.lua"] = lua.read_text()
        if self.cel:
            files["cel.conf"] = CEL_CONF
        if self.moh_file is not None:
            moh = self.dir / "moh"
            moh.mkdir(exist_ok=True)
            shutil.copy(self.moh_file, moh / "music.wav")
            files["musiconhold.conf"] = f"[default]\nmode = files\ndirectory = {i}/moh\n"
        files.update(self.configs)
        for empty in EMPTY_CONFIGS:
            files.setdefault(empty, "")
        return files

    def _module_dir(self) -> str:
        default = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
        if Path(self.host(default)).exists():
            return default
        # other architectures: find the module folder inside the root
        found = sorted(self.root.glob("usr/lib/*/asterisk/modules"))
        if not found:
            raise LabError(f"no asterisk modules folder in {self.root}")
        return "/" + str(found[0].relative_to(self.root))

    # --- records of the stand-ins ----------------------------------------------------------------
    def agi_runs(self) -> list[dict[str, Any]]:
        """One record per run of the meetme_dial.php stand-in."""
        f = self.dir / "meetme_dial.log"
        if not f.exists():
            return []
        return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]

    def hangup_handler_runs(self) -> list[str]:
        """Uniqueids for which the hangup_handler_meetme stand-in ran."""
        f = self.dir / "hangup_handler_meetme.log"
        if not f.exists():
            return []
        return [line.split()[1] for line in f.read_text().splitlines() if len(line.split()) > 1]

    # --- AMI helpers ---------------------------------------------------------------------------
    @property
    def a(self) -> AmiClient:
        if self.ami is None:
            raise LabError("lab is not started")
        return self.ami

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq}-{uuid.uuid4().hex[:6]}"

    def _originate_internal(self, room: str) -> JoinHandle:
        h = JoinHandle(id=self._next_id(INTERNAL_PREFIX), room=room, sent_t=time.time())
        resp = self.a.action({
            "Action": "Originate", "Channel": f"Local/{room}@{ROOM_CONTEXT}", "Application": "Wait",
            "Data": "3600", "Async": "true", "ChannelId": h.id, "CallerID": f"lab <{1000 + self._seq}>",
        })
        if resp[0].get("Response") != "Success":
            raise LabError(f"Originate for internal participant failed: {resp[0]}")
        return h

    def _await_join(self, h: JoinHandle, start: int, timeout: float) -> JoinHandle:
        ev = self.a.wait_event(
            lambda e: e.get("Event") == "ConfbridgeJoin" and str(e.get("Uniqueid", "")).startswith(h.id),
            timeout, start,
        )
        h.channel, h.uniqueid, h.join_t = ev["Channel"], ev["Uniqueid"], ev["_t"]
        return h

    def join(self, room: str, timeout: float = 10.0) -> JoinHandle:
        """One internal participant enters ConfBridge `room`; returns when its ConfbridgeJoin arrived."""
        start = self.a.mark()
        return self._await_join(self._originate_internal(room), start, timeout)

    def join_many(self, room: str, n: int, timeout: float = 15.0) -> list[JoinHandle]:
        """n participants at once: all Originates are sent back to back, then all joins awaited."""
        start = self.a.mark()
        handles: list[JoinHandle] = []
        errors: list[BaseException] = []

        def one() -> None:
            try:
                handles.append(self._originate_internal(room))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        for h in handles:
            self._await_join(h, start, timeout)
        return handles

    def leave(self, h: JoinHandle, wait: bool = True, timeout: float = 10.0) -> float:
        """Hang up the participant; returns the time of its ConfbridgeLeave (or of the request)."""
        start = self.a.mark()
        t_req = time.time()
        resp = self.a.action({"Action": "Hangup", "Channel": h.channel})
        if resp[0].get("Response") != "Success":
            raise LabError(f"Hangup {h.channel} failed: {resp[0]}")
        if not wait:
            return t_req
        ev = self.a.wait_event(
            lambda e: e.get("Event") == "ConfbridgeLeave" and e.get("Uniqueid") == h.uniqueid, timeout, start
        )
        h.leave_t = ev["_t"]
        return h.leave_t

    def hangup(self, channel: str) -> dict[str, Any]:
        return self.a.action({"Action": "Hangup", "Channel": channel})[0]

    def confbridge_list(self, room: str) -> list[dict[str, Any]]:
        """Members of `room` now (empty list when the room does not exist)."""
        resp = self.a.action({"Action": "ConfbridgeList", "Conference": room})
        if resp[0].get("Response") != "Success":
            return []
        return ami_list(resp, "ConfbridgeList")

    def channels(self) -> list[dict[str, Any]]:
        """CoreShowChannels items."""
        return ami_list(self.a.action({"Action": "CoreShowChannels"}), "CoreShowChannel")

    def conflink_channels(self) -> list[dict[str, Any]]:
        return [c for c in self.channels() if str(c.get("Uniqueid", "")).startswith("conflink-")]

    def confbridge_events(self, start: int = 0, room: str | None = None) -> list[dict[str, Any]]:
        """ConfbridgeJoin/Leave events of any channel since index `start` (each has `_t`)."""
        return [
            e for e in self.a.find_events(start=start)
            if e.get("Event") in ("ConfbridgeJoin", "ConfbridgeLeave")
            and (room is None or e.get("Conference") == room)
        ]

    def cel_events(self, start: int = 0, name: str | None = None) -> list[dict[str, Any]]:
        """CEL events (Lab(cel=True)) since index `start`, optionally of one EventName."""
        return [e for e in self.a.find_events("CEL", start=start) if name is None or e.get("EventName") == name]

    def originate_external(
        self, link_id: str, room: str, number: str = "100", endpoint: str = "SIP-TEST",
        suffix: str = "x", dtmf: str = "", dtmf_delay_ms: int = 0, timeout_ms: int = 30000,
    ) -> str:
        """The lab itself dials an external leg the way the worker does (ChannelId
        conflink-<link>-<suffix>, into conflink-join). Returns the ChannelId."""
        cid = f"conflink-{link_id}-{suffix}"
        resp = self.a.action({
            "Action": "Originate", "Channel": f"PJSIP/{number}@{endpoint}", "Context": JOIN_CONTEXT,
            "Exten": room, "Priority": "1", "Timeout": str(timeout_ms), "Async": "true", "ChannelId": cid,
            "Variable": [f"CONFLINK_LINK={link_id}", f"CONFLINK_ROOM={room}", f"CONFLINK_DTMF={dtmf}",
                         f"CONFLINK_DTMF_DELAY_MS={dtmf_delay_ms}"],
        })
        if resp[0].get("Response") != "Success":
            raise LabError(f"Originate {cid} failed: {resp[0]}")
        return cid

    # --- SIPp ----------------------------------------------------------------------------------
    def sipp(
        self, scenario: str, endpoint: str = "SIP-TEST", max_calls: int | None = None, **params: str | int | float
    ) -> Sipp:
        """Start a SIPp UAS on `endpoint`'s contact port. Only one per endpoint at a time:
        stop the previous one first (Lab.stop_sipp / Sipp.stop). `params` fill the scenario's
        @NAME@ placeholders; `max_calls` raises SIPp's limit of concurrent calls."""
        if endpoint not in self.sipp_ports:
            raise LabError(f"unknown endpoint {endpoint}; the lab has {self.endpoints}")
        for s in self.sipps:
            if s.port == self.sipp_ports[endpoint] and s.running():
                raise LabError(f"a SIPp ({s.name}) already runs for {endpoint}")
        s = Sipp(scenario, self.sipp_ports[endpoint], self.sipp_media_ports[endpoint], self.workdir, params,
                 max_calls)
        self.sipps.append(s)
        return s

    # --- the worker ----------------------------------------------------------------------------
    def worker_config(
        self, links: Iterable[dict[str, Any]], control_endpoint: str | None = None,
        token: str | None = None, join_context: str = JOIN_CONTEXT,
    ) -> dict[str, Any]:
        """A config v1 document for the worker pointing at this lab. Each link needs at least
        id, room and number; endpoint defaults to the lab's first endpoint."""
        if control_endpoint is None:
            control_endpoint = f"tcp://127.0.0.1:{free_port_block()}"
        out_links = []
        for link in links:
            # A link through the PBX's outgoing routes has no endpoint of its own.
            own = {} if link.get("dial_via") == "routes" else {"endpoint": self.endpoints[0]}
            d = {"enabled": True, **own, **link}
            for k in ("id", "room", "number", "dtmf", "callerid", "endpoint"):
                if k in d:
                    d[k] = str(d[k])  # the contract wants strings; yaml.safe_dump then quotes digits
            out_links.append(d)
        control: dict[str, Any] = {"endpoint": control_endpoint}
        if token:
            control["token"] = token
        return {
            "version": 1,
            "ami": {"host": "127.0.0.1", "port": self.ami_port, "username": WORKER_AMI_USER,
                    "secret": self.worker_secret},
            "control": control,
            "dialplan": {"join_context": join_context},
            "links": out_links,
        }

    def write_worker_config(self, path: Path, links: Iterable[dict[str, Any]], **kw: Any) -> dict[str, Any]:
        cfg = self.worker_config(links, **kw)
        write_yaml(path, cfg)
        return cfg

    def start_worker(self, config_path: Path, log_file: Path | None = None, extra_args: Iterable[str] = ()) -> Worker:
        w = Worker(config_path, log_file or (self.workdir / f"worker-{len(self.workers)}.log"), extra_args)
        self.workers.append(w)
        return w


def remove_stale_instances(root: Path, min_age: float = 600.0) -> list[Path]:
    """Delete instance folders that a killed test run left in <root>/tmp: their Asterisk is gone
    (PID file names a dead process, or no PID file) and they are older than `min_age` seconds.
    Running instances of other processes and kept ones (CONFLINK_LAB_KEEP) are left alone."""
    removed = []
    for d in (root / "tmp").glob("conflink-lab-*"):
        try:
            if time.time() - d.stat().st_mtime < min_age or (d / ".keep").exists():
                continue
            pid_file = d / "run" / "asterisk.pid"
            if pid_file.exists():
                pid = int(pid_file.read_text().strip() or 0)
                if pid > 0 and Path(f"/proc/{pid}").exists():
                    continue
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
        except (OSError, ValueError):
            continue
    return removed


def write_yaml(path: Path, doc: dict[str, Any]) -> None:
    try:
        import yaml  # optional: JSON is YAML too
    except ImportError:
        text = json.dumps(doc, indent=2)
    else:
        text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _cleanup() -> None:
    # Safety net: whatever a crashed test left running is stopped here, by PID.
    for obj in list(_LIVE):
        if isinstance(obj, Worker):
            obj.kill()
    for obj in list(_LIVE):
        if isinstance(obj, Sipp):
            obj.stop()
    for obj in list(_LIVE):
        if isinstance(obj, Lab):
            obj.stop()


atexit.register(_cleanup)

__all__ = [
    "BENCH_ROOM_CONTEXT", "INTERNAL_PREFIX", "JOIN_CONTEXT", "ROOM_CONTEXT", "AmiClient", "JoinHandle", "Lab",
    "LabError", "SipMsg", "Sipp", "Worker", "asterisk_root", "check_prerequisites", "free_port_block",
    "observe", "parse_sipp_messages", "release_port_block", "remove_stale_instances", "render_join_dialplan",
    "sound_names", "wait_until", "wait_value", "worker_bin", "write_yaml",
]

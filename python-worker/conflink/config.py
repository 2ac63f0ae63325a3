"""Config document v1: load, validate, persist.

Everything that reaches AMI or the dialplan passes through here first, so the rules are
strict and every error names the key path and the offending value.
"""

from __future__ import annotations

import copy
import ipaddress
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any

import yaml

from .schedule import MAX_WINDOWS, WINDOW_PATTERN, Window, parse_window

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7391"
DEFAULT_JOIN_CONTEXT = "conflink-join"
DEFAULT_BACKOFF = (5.0, 15.0, 30.0, 60.0, 120.0)

DTMF_CHARS = frozenset("0123456789*#ABCDwWp")
_MAX_DTMF = 64

# One source for each pattern and limit of a link. The PHP validator (Lib/LinkValidator.php)
# and the admin page's JS (conference-link-rules.js) keep copies; the agreement tests
# (tests/php/unit/LimitsAgreementTest.php, tests/js/limits-agreement.test.js) compare them
# with limits_document().
PATTERNS: dict[str, str] = {
    "room": r"^[0-9]{1,20}$",
    "link_id": r"^[A-Za-z0-9_]{1,32}$",
    "endpoint": r"^[A-Za-z0-9_.~+-]{1,80}$",
    "number": r"^[0-9+*#]{1,32}$",
    "callerid": r"^[0-9+]{0,32}$",
    "dtmf": r"^[0-9*#ABCDwWp]{0,64}$",
    # Keys from the room (link key `room_keys`, "" = off) and digits of a `dtmf` command.
    "room_keys": r"^[0-9*#ABCD]{0,8}$",
    "send_digits": r"^[0-9*#ABCD]{1,32}$",
    # One window of a link's `schedule` (schedule.py: "mon-fri 08:00-18:00").
    "schedule_window": WINDOW_PATTERN,
}
# How the external call is dialled (link key `dial_via`): `provider` = straight to the link's
# PJSIP endpoint, number as entered; `routes` = through the PBX's outgoing routes (Core's
# `[outgoing]` context: prepend/trim, failover, custom hooks, recording), no endpoint needed.
DIAL_VIA = ("provider", "routes")
DIAL_VIA_DEFAULT = "provider"
# Dialplan context of the routed Local channel's ;2 half (DialplanBuilder::ROUTE_CONTEXT).
ROUTE_CONTEXT = "conflink-route"
# What happens to a call still up when its schedule window ends: hung up after the link's
# linger, or kept until the room empties.
SCHEDULE_ENDS = ("linger", "keep")
# Asterisk modules the far-end handling needs (Lib/DialplanBuilder.php REQUIRED_MODULES loads
# them): `p` steps and far-end talk come from TALK_DETECT, the step waits from WaitForCondition.
# The worker asks Asterisk for them at every AMI start (status `ami.modules`).
TALK_DETECT_MODULE = "func_talkdetect.so"
FAR_END_MODULES = (TALK_DETECT_MODULE, "app_waitforcond.so")

# Announcements into the room (link key `announce`): Asterisk core sound per event, played in
# the PBX's default language (MikoPBX sets asterisk.conf defaultlanguage from its own).
ANNOUNCE_SOUNDS = {
    "connecting": "pls-hold-while-try",
    "connected": "confbridge-has-joined",
    "busy": "all-circuits-busy-now",
    "not_found": "ss-noservice",
    "no_answer": "number-not-answering",
    "failed": "cannot-complete-as-dialed",
}
# The external call waits this long before entering the room after "connected" is announced,
# so the far end never hears it (ConfBridge cannot keep a sound from one member).
ANNOUNCE_JOIN_WAIT_MS = 1800
# Uniqueid prefix of the announcer (a Local channel in the room): not "conflink-", so it is
# neither one of our external calls nor counted as a participant (rules.is_announcer).
ANNOUNCER_PREFIX = "conflinkann-"


@dataclass(frozen=True, slots=True)
class Limit:
    low: float
    high: float
    integer: bool
    default: float | None
    off: float | None = None  # a value allowed below `low`, meaning "off"

    def check(self, value: float) -> bool:
        if self.integer and value != int(value):
            return False
        return math.isfinite(value) and (self.low <= value <= self.high or value == self.off)


# Keys as in the worker's YAML (retry.backoff: each item; BACKOFF_ITEMS: the list's length).
LIMITS: dict[str, Limit] = {
    "dtmf_delay": Limit(0, 60, False, 1.0),
    "ring_timeout": Limit(5, 300, True, 60),
    "arm_delay": Limit(0, 3600, False, 0.0),
    "linger": Limit(0, 3600, False, 0.0),
    "retry.max_attempts": Limit(0, 100, True, 5),
    "retry.backoff": Limit(1, 3600, False, None),
    "prompt_silence": Limit(0.2, 5, False, 1.0),
    "prompt_timeout": Limit(1, 120, False, 20.0),
    "dead_air": Limit(5, 3600, True, 0, off=0),
    "end_cooldown": Limit(0, 3600, True, 120),
    # Cost limits (0 = none): the longest one call may last, the minutes of calls per day.
    "max_call_minutes": Limit(1, 1440, True, 0, off=0),
    "daily_minutes": Limit(1, 1440, True, 0, off=0),
    # A forced test call (room empty) stays up this long; not a link key: a dial argument.
    "test_call_seconds": Limit(1, 3600, False, 30.0),
}
BACKOFF_ITEMS = (1, 20)

TEST_CALL_SECONDS_MIN = LIMITS["test_call_seconds"].low
TEST_CALL_SECONDS_MAX = LIMITS["test_call_seconds"].high
TEST_CALL_SECONDS_DEFAULT = float(LIMITS["test_call_seconds"].default or 30.0)

# `p` in a DTMF sequence: wait for the far end's prompt to end (design.md "Far-end prompts").
PROMPT_TOKEN = "p"
DTMF_MODES = ("auto", "rfc4733", "inband", "info")


def _bounds(key: str) -> tuple[float, float, float]:
    limit = LIMITS[key]
    return float(limit.default or 0), limit.low, limit.high


# (default, low, high) of the far-end keys, from LIMITS.
PROMPT_SILENCE = _bounds("prompt_silence")  # seconds of far-end silence that end a prompt
PROMPT_TIMEOUT = _bounds("prompt_timeout")  # seconds from a `p` step's start before going on anyway
DEAD_AIR = _bounds("dead_air")  # seconds of silence (RTP flowing) before hang-up + redial; 0 = off
END_COOLDOWN = _bounds("end_cooldown")  # seconds to wait after the far end ended a long call
# Keys from the room: an internal participant presses `room_keys` and the external call
# sends it to the far end (Zoom, Teams, Webex and Meet toggle the line's mute with *6).
# Off by default so a 0.1.0 config forwards nothing; the admin UI starts new links with *6.
DIGIT_CHARS = frozenset("0123456789*#ABCD")
ROOM_KEYS_DEFAULT = ""
ROOM_KEYS_MAX = 8
# Digits sent to the far end by a control command (`dtmf`): the same characters, no pauses.
SEND_DIGITS_MAX = 32

_ROOM_RE = re.compile(PATTERNS["room"])
_LINK_ID_RE = re.compile(PATTERNS["link_id"])
_ENDPOINT_RE = re.compile(PATTERNS["endpoint"])
_NUMBER_RE = re.compile(PATTERNS["number"])
_CALLERID_RE = re.compile(PATTERNS["callerid"])
_AMI_USER_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_CONTEXT_RE = re.compile(r"^[A-Za-z0-9_-]{1,79}$")
_HOST_LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_TOKEN_RE = re.compile(r"^[!-~]{0,256}$")
_SECRET_RE = re.compile(r"^[ -~]{1,128}$")
_TCP_RE = re.compile(r"^tcp://(127\.0\.0\.1|localhost|\[::1\]):([0-9]{1,5})$")
# ipc://<absolute path>: printable ASCII, at most this many characters (sun_path is 108 bytes).
MAX_IPC_PATH_CHARS = 100


def is_link_id(value: object) -> bool:
    return isinstance(value, str) and _LINK_ID_RE.fullmatch(value) is not None


def check_test_call_seconds(seconds: float) -> str | None:
    """Why `seconds` is not an acceptable test-call length (None: it is)."""
    if not LIMITS["test_call_seconds"].check(seconds):
        return f"seconds: must be between {TEST_CALL_SECONDS_MIN:g} and {TEST_CALL_SECONDS_MAX:g}"
    return None


def check_send_digits(digits: object) -> str | None:
    """Why `digits` cannot be sent to the far end by a `dtmf` command (None: they can)."""
    if not isinstance(digits, str) or not digits:
        return "digits: must be a non-empty string of 0-9 * # A-D"
    if len(digits) > SEND_DIGITS_MAX:
        return f"digits: at most {SEND_DIGITS_MAX} characters"
    bad = next((c for c in digits if c not in DIGIT_CHARS), None)
    if bad is not None:
        return f"digits: {bad!r} is not a DTMF digit (0-9 * # A-D)"
    return None


@dataclass(frozen=True, slots=True)
class ControlEndpoint:
    url: str
    transport: str  # "tcp" or "ipc"
    host: str = ""
    port: int = 0
    path: str = ""


def control_endpoint_error(value: object) -> tuple[ControlEndpoint | None, str]:
    """The one check of a control endpoint: (parsed, "") or (None, why it is refused)."""
    if not isinstance(value, str):
        return None, f"{_show(value)} must be a string"
    if value.startswith("ipc://"):
        path = value[len("ipc://"):]
        if not path.startswith("/") or not 2 <= len(path) <= MAX_IPC_PATH_CHARS or any(
            ord(c) < 33 or ord(c) > 126 for c in path
        ):
            return None, (f"{_show(value)} must be ipc://<absolute path> of at most {MAX_IPC_PATH_CHARS} "
                          "printable characters")
        return ControlEndpoint(url=value, transport="ipc", path=path), ""
    match = _TCP_RE.fullmatch(value)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        return None, (f"{_show(value)} is not a local endpoint (tcp://127.0.0.1:<port>, tcp://localhost:<port>, "
                      "tcp://[::1]:<port> with port 1-65535, or ipc://<absolute path>)")
    return ControlEndpoint(url=value, transport="tcp", host=match.group(1), port=int(match.group(2))), ""


def limits_document() -> dict[str, Any]:
    """Every limit and pattern above as JSON-ready data (for the agreement tests)."""
    return {
        "patterns": dict(PATTERNS),
        "dtmf_chars": "".join(sorted(DTMF_CHARS)),
        "limits": {k: {"low": v.low, "high": v.high, "integer": v.integer, "default": v.default, "off": v.off}
                   for k, v in LIMITS.items()},
        "backoff_items": list(BACKOFF_ITEMS),
        "max_ipc_path_chars": MAX_IPC_PATH_CHARS,
        "route_context": ROUTE_CONTEXT,
        "far_end_modules": list(FAR_END_MODULES),
        "choices": {"dial_via": list(DIAL_VIA), "dtmf_mode": list(DTMF_MODES), "schedule_end": list(SCHEDULE_ENDS)},
    }


class ConfigError(ValueError):
    """A config document was refused; str() names the key path and the value."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


@dataclass(frozen=True, slots=True)
class RetryConfig:
    max_attempts: int = 5
    backoff: tuple[float, ...] = DEFAULT_BACKOFF
    redial_on_drop: bool = True

    def delay_before(self, attempt: int) -> float:
        """Back-off before attempt number `attempt` (2 = the first retry); the last value repeats."""
        index = max(0, min(attempt - 2, len(self.backoff) - 1))
        return self.backoff[index]


@dataclass(frozen=True, slots=True)
class LinkConfig:
    id: str
    room: str
    endpoint: str
    number: str
    enabled: bool = True
    dtmf: str = ""
    dtmf_delay: float = 1.0
    callerid: str = ""
    ring_timeout: int = 60
    arm_delay: float = 0.0
    linger: float = 0.0
    retry: RetryConfig = field(default_factory=RetryConfig)
    prompt_silence: float = PROMPT_SILENCE[0]
    prompt_timeout: float = PROMPT_TIMEOUT[0]
    dtmf_mode: str = "auto"
    dead_air: int = int(DEAD_AIR[0])
    end_cooldown: int = int(END_COOLDOWN[0])
    room_keys: str = ROOM_KEYS_DEFAULT
    max_call_minutes: int = 0
    daily_minutes: int = 0
    schedule: tuple[Window, ...] = ()
    schedule_end: str = "linger"
    announce: bool = False
    dial_via: str = DIAL_VIA_DEFAULT  # "routes": `endpoint` is "" (or ignored)

    def dial_settings(self) -> tuple[object, ...]:
        """What a running call depends on; a change here applies at the next dial."""
        return (
            self.dial_via, self.endpoint, self.number, self.dtmf, self.dtmf_delay, self.callerid, self.ring_timeout,
            self.prompt_silence, self.prompt_timeout, self.dtmf_mode,
        )


@dataclass(frozen=True, slots=True)
class AmiConfig:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "conflink"
    secret: str = ""


@dataclass(frozen=True, slots=True)
class ControlConfig:
    endpoint: str = DEFAULT_ENDPOINT
    token: str = ""


@dataclass(frozen=True, slots=True)
class DialplanConfig:
    join_context: str = DEFAULT_JOIN_CONTEXT


@dataclass(frozen=True, slots=True)
class Config:
    version: int = 1
    ami: AmiConfig = field(default_factory=AmiConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    dialplan: DialplanConfig = field(default_factory=DialplanConfig)
    links: tuple[LinkConfig, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def link(self, link_id: str) -> LinkConfig | None:
        for link in self.links:
            if link.id == link_id:
                return link
        return None


# ---------------------------------------------------------------- field readers


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _mapping(
    value: object, path: str, allowed: set[str], required: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(path, f"expected a mapping, got {_show(value)}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(path, f"key {_show(key)} is not a string")
        if key not in allowed:
            raise ConfigError(f"{path}.{key}" if path else key, "unknown key")
    for key in sorted(required):
        if key not in value:
            raise ConfigError(f"{path}.{key}" if path else key, "is required")
    return value


def _string(value: object, path: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"{_show(value)} must be a quoted string ({what})")
    if not pattern.fullmatch(value):
        raise ConfigError(path, f"{_show(value)} is not {what}")
    return value


def _limit(value: object, path: str, key: str) -> float:
    """A number checked against LIMITS[key]; integers stay int."""
    limit = LIMITS[key]
    if limit.integer:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"{_show(value)} is not an integer")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(path, f"{_show(value)} is not a number")
    if not limit.check(float(value)):
        also = f" or {limit.off:g}" if limit.off is not None else ""
        raise ConfigError(path, f"{_show(value)} is out of range {limit.low:g}..{limit.high:g}{also}")
    return value if limit.integer else float(value)


def _integer(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, f"{_show(value)} is not an integer")
    if not low <= value <= high:
        raise ConfigError(path, f"{_show(value)} is out of range {low}..{high}")
    return value


def _boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, f"{_show(value)} is not true or false")
    return value


def _key_string(value: object, path: str, chars: frozenset[str], max_len: int, string: str, key: str) -> str:
    """A quoted string of keys from `chars`, at most `max_len` long; `string` and `key` name what
    the whole and one character must be, in the errors."""
    if not isinstance(value, str):
        raise ConfigError(path, f"{_show(value)} must be a quoted string of {string}")
    if len(value) > max_len:
        raise ConfigError(path, f"is longer than {max_len} characters")
    for char in value:
        if char not in chars:
            raise ConfigError(path, f"{_show(char)} is not a {key}")
    return value


def _dtmf(value: object, path: str) -> str:
    return _key_string(value, path, DTMF_CHARS, _MAX_DTMF,
                       "DTMF characters", "DTMF character (0-9 * # A-D w W p)")


def _room_keys(value: object, path: str) -> str:
    return _key_string(value, path, DIGIT_CHARS, ROOM_KEYS_MAX,
                       'DTMF digits (0-9 * # A-D), or "" for off', "DTMF digit (0-9 * # A-D)")


def _choice(value: object, path: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(path, f"{_show(value)} is not one of {', '.join(choices)}")
    return value


def _schedule(value: object, path: str) -> tuple[Window, ...]:
    if not isinstance(value, list) or len(value) > MAX_WINDOWS:
        raise ConfigError(path, f"{_show(value)} must be a list of at most {MAX_WINDOWS} windows")
    windows = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigError(f"{path}[{index}]", f"{_show(item)} must be a quoted string like \"mon-fri 08:00-18:00\"")
        window = parse_window(item)
        if isinstance(window, str):
            raise ConfigError(f"{path}[{index}]", f"{_show(item)} {window}")
        windows.append(window)
    return tuple(windows)


def _endpoint(value: object, path: str) -> str:
    parsed, error = control_endpoint_error(value)
    if parsed is None:
        raise ConfigError(path, error)
    return parsed.url


def _host(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"{_show(value)} must be a string")
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    if len(value) > 253 or not all(_HOST_LABEL_RE.fullmatch(label) for label in labels):
        raise ConfigError(path, f"{_show(value)} is not a host name or IP address")
    return value


# ---------------------------------------------------------------- sections


def _parse_retry(value: object, path: str) -> RetryConfig:
    doc = _mapping(value, path, {"max_attempts", "backoff", "redial_on_drop"})
    max_attempts = int(_limit(doc.get("max_attempts", 5), f"{path}.max_attempts", "retry.max_attempts"))
    backoff_doc = doc.get("backoff", list(DEFAULT_BACKOFF))
    low, high = BACKOFF_ITEMS
    if not isinstance(backoff_doc, list) or not low <= len(backoff_doc) <= high:
        raise ConfigError(f"{path}.backoff", f"{_show(backoff_doc)} must be a list of {low} to {high} numbers")
    backoff = tuple(_limit(item, f"{path}.backoff[{i}]", "retry.backoff") for i, item in enumerate(backoff_doc))
    redial = _boolean(doc.get("redial_on_drop", True), f"{path}.redial_on_drop")
    return RetryConfig(max_attempts=max_attempts, backoff=backoff, redial_on_drop=redial)


_LINK_KEYS = {
    "id", "room", "enabled", "endpoint", "number", "dtmf", "dtmf_delay", "callerid",
    "ring_timeout", "arm_delay", "linger", "retry",
    "prompt_silence", "prompt_timeout", "dtmf_mode", "dead_air", "end_cooldown",
    # room controls (issue 12)
    "room_keys", "max_call_minutes", "daily_minutes", "schedule", "schedule_end", "announce",
    "dial_via",
}


def _parse_link(value: object, path: str) -> LinkConfig:
    doc = _mapping(value, path, _LINK_KEYS, {"id", "room", "number"})
    dial_via = _choice(doc.get("dial_via", DIAL_VIA_DEFAULT), f"{path}.dial_via", DIAL_VIA)
    if "endpoint" not in doc and dial_via == "provider":
        raise ConfigError(f"{path}.endpoint", "is required (unless dial_via is routes)")
    return LinkConfig(
        id=_string(doc["id"], f"{path}.id", _LINK_ID_RE, "a link id (1-32 of A-Z a-z 0-9 _)"),
        room=_string(doc["room"], f"{path}.room", _ROOM_RE, "a room number (1-20 digits)"),
        # Checked when given in routes mode too, but then never dialled.
        endpoint=_string(doc["endpoint"], f"{path}.endpoint", _ENDPOINT_RE, "a PJSIP endpoint name")
        if "endpoint" in doc else "",
        dial_via=dial_via,
        number=_string(doc["number"], f"{path}.number", _NUMBER_RE, "a number (1-32 of 0-9 + * #)"),
        enabled=_boolean(doc.get("enabled", True), f"{path}.enabled"),
        dtmf=_dtmf(doc.get("dtmf", ""), f"{path}.dtmf"),
        dtmf_delay=_limit(doc.get("dtmf_delay", 1.0), f"{path}.dtmf_delay", "dtmf_delay"),
        callerid=_string(doc.get("callerid", ""), f"{path}.callerid", _CALLERID_RE, "a caller ID (digits, +)"),
        ring_timeout=int(_limit(doc.get("ring_timeout", 60), f"{path}.ring_timeout", "ring_timeout")),
        arm_delay=_limit(doc.get("arm_delay", 0), f"{path}.arm_delay", "arm_delay"),
        linger=_limit(doc.get("linger", 0), f"{path}.linger", "linger"),
        retry=_parse_retry(doc.get("retry", {}), f"{path}.retry"),
        prompt_silence=_limit(doc.get("prompt_silence", PROMPT_SILENCE[0]), f"{path}.prompt_silence",
                              "prompt_silence"),
        prompt_timeout=_limit(doc.get("prompt_timeout", PROMPT_TIMEOUT[0]), f"{path}.prompt_timeout",
                              "prompt_timeout"),
        dtmf_mode=_choice(doc.get("dtmf_mode", "auto"), f"{path}.dtmf_mode", DTMF_MODES),
        dead_air=int(_limit(doc.get("dead_air", int(DEAD_AIR[0])), f"{path}.dead_air", "dead_air")),
        end_cooldown=int(_limit(doc.get("end_cooldown", int(END_COOLDOWN[0])), f"{path}.end_cooldown",
                                "end_cooldown")),
        room_keys=_room_keys(doc.get("room_keys", ROOM_KEYS_DEFAULT), f"{path}.room_keys"),
        max_call_minutes=int(_limit(doc.get("max_call_minutes", 0), f"{path}.max_call_minutes", "max_call_minutes")),
        daily_minutes=int(_limit(doc.get("daily_minutes", 0), f"{path}.daily_minutes", "daily_minutes")),
        schedule=_schedule(doc.get("schedule", []), f"{path}.schedule"),
        schedule_end=_choice(doc.get("schedule_end", "linger"), f"{path}.schedule_end", SCHEDULE_ENDS),
        announce=_boolean(doc.get("announce", False), f"{path}.announce"),
    )


def parse_config(doc: object) -> Config:
    """Validate a decoded document (dict) into a Config; raises ConfigError naming the key path."""
    if doc is None:
        doc = {}
    root = _mapping(doc, "", {"version", "ami", "control", "dialplan", "links"}, {"version"})
    version = root["version"]
    if isinstance(version, bool) or version != 1:
        raise ConfigError("version", f"{_show(version)} is not a supported version (expected 1)")

    ami_doc = _mapping(root.get("ami", {}), "ami", {"host", "port", "username", "secret"})
    ami = AmiConfig(
        host=_host(ami_doc.get("host", "127.0.0.1"), "ami.host"),
        port=_integer(ami_doc.get("port", 5038), "ami.port", 1, 65535),
        username=_string(ami_doc.get("username", "conflink"), "ami.username", _AMI_USER_RE, "an AMI user name"),
        secret=_string(ami_doc.get("secret", ""), "ami.secret", _SECRET_RE, "1-128 printable characters")
        if "secret" in ami_doc
        else "",
    )

    control_doc = _mapping(root.get("control", {}), "control", {"endpoint", "token"})
    control = ControlConfig(
        endpoint=_endpoint(control_doc.get("endpoint", DEFAULT_ENDPOINT), "control.endpoint"),
        token=_string(control_doc.get("token", ""), "control.token", _TOKEN_RE, "a token (printable, no spaces)"),
    )

    dialplan_doc = _mapping(root.get("dialplan", {}), "dialplan", {"join_context"})
    dialplan = DialplanConfig(
        join_context=_string(
            dialplan_doc.get("join_context", DEFAULT_JOIN_CONTEXT), "dialplan.join_context", _CONTEXT_RE,
            "a dialplan context name",
        )
    )

    links_doc = root.get("links", [])
    if links_doc is None:
        links_doc = []
    if not isinstance(links_doc, list):
        raise ConfigError("links", f"{_show(links_doc)} must be a list")
    if len(links_doc) > 10000:
        raise ConfigError("links", "more than 10000 links")
    links: list[LinkConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(links_doc):
        link = _parse_link(item, f"links[{index}]")
        if link.id in seen:
            raise ConfigError(f"links[{index}].id", f"{_show(link.id)} is used by another link")
        seen.add(link.id)
        links.append(link)

    return Config(
        version=1, ami=ami, control=control, dialplan=dialplan, links=tuple(links), raw=copy.deepcopy(root)
    )


def parse_config_text(text: str) -> Config:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"not valid YAML: {exc}") from None
    return parse_config(doc)


def load_config_file(path: str) -> Config | None:
    """Read the config file; None when it is missing or empty (the worker then waits for a push)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise ConfigError("", f"{path} is not UTF-8 text") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"{path} is not valid YAML: {exc}") from None
    if doc is None:
        return None
    return parse_config(doc)


def write_config_atomic(path: str | os.PathLike[str], doc: dict[str, Any]) -> None:
    """Persist a validated document: temp file in the same folder, fsync, rename (never a torn file)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # The C dumper when PyYAML has it: this runs on the event loop, and 1000 links take the
    # pure-Python dumper over 100 ms.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
    fd, tmp_path = tempfile.mkstemp(prefix=".conflink-", suffix=".yaml.tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_path, 0o600)
        os.replace(tmp_path, path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except FileNotFoundError:
            pass
        raise

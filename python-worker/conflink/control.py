"""ZeroMQ control plane of the worker: a ROUTER server and the request handler.

The wire protocol (design.md, "Control protocol"): one JSON object per request frame, one
JSON object per reply frame. Clients are REQ sockets (frames ``[identity, b'', payload]``);
DEALER clients without the empty delimiter are tolerated. Nothing a client sends can stop
the server: every malformed request gets ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hmac
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import zmq
import zmq.asyncio

from .config import ControlEndpoint, check_test_call_seconds, control_endpoint_error, is_link_id

log = logging.getLogger("conflink.control")

# Requests above this size get an error reply; above HARD_MAX_MESSAGE_BYTES libzmq drops the
# connection without reading the message (the only way to refuse it without buffering it).
MAX_REQUEST_BYTES = 1 << 20
HARD_MAX_MESSAGE_BYTES = 4 * MAX_REQUEST_BYTES
# Requests handled at the same time; beyond that the server stops reading (back-pressure).
MAX_IN_FLIGHT = 32


COMMAND_KEYS: dict[str, frozenset[str]] = {
    "ping": frozenset({"cmd", "token"}),
    "status": frozenset({"cmd", "token"}),
    "apply_config": frozenset({"cmd", "token", "config"}),
    "dial": frozenset({"cmd", "token", "link", "force", "seconds"}),
    "hangup": frozenset({"cmd", "token", "link"}),
    # room controls (design.md "Room controls")
    "dtmf": frozenset({"cmd", "token", "link", "digits"}),
    "mute": frozenset({"cmd", "token", "link"}),
    "unmute": frozenset({"cmd", "token", "link"}),
}


class ControlEndpointError(Exception):
    """The control endpoint is not acceptable or cannot be bound (worker exits with code 2)."""


class EndpointInUseError(ControlEndpointError):
    """Another process already serves the control endpoint."""


Endpoint = ControlEndpoint


def parse_endpoint(endpoint: object) -> Endpoint:
    """The control endpoint, checked by the config's one rule (config.control_endpoint_error)."""
    parsed, error = control_endpoint_error(endpoint)
    if parsed is None:
        raise ControlEndpointError(f"control endpoint {error}")
    return parsed


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------

RequestHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@runtime_checkable
class _HasHandle(Protocol):
    async def handle(self, request: dict[str, Any]) -> dict[str, Any]: ...


class ControlServer:
    """ROUTER socket serving JSON requests on the running asyncio loop.

    ``handler`` is an object with ``async handle(request) -> reply`` (a ControlHandler) or
    such a coroutine function. Use ``await start()`` then ``await close()``, or
    ``async with ControlServer(...)``.
    """

    def __init__(
        self,
        endpoint: str,
        handler: _HasHandle | RequestHandler,
        *,
        context: zmq.asyncio.Context | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self.endpoint = parse_endpoint(endpoint)
        self._handle: RequestHandler = handler.handle if isinstance(handler, _HasHandle) else handler
        self._ctx = context or zmq.asyncio.Context.instance()
        self._max = max_request_bytes
        self._sock: zmq.asyncio.Socket | None = None
        self._lock_fd: int | None = None
        self._lock_path: str | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.requests_served = 0

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind and start serving; raises ControlEndpointError (EndpointInUseError) on failure."""
        if self._sock is not None:
            raise RuntimeError("control server already started")
        ep = self.endpoint
        if ep.transport == "ipc":
            self._take_ipc_lock(ep.path)
        sock = self._ctx.socket(zmq.ROUTER)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, max(self._max, HARD_MAX_MESSAGE_BYTES))
            if ep.transport == "tcp" and ep.host == "[::1]":
                sock.setsockopt(zmq.IPV6, 1)
            self._bind(sock, ep)
        except BaseException:
            sock.close(linger=0)
            self._release_ipc_lock()
            raise
        self._sock = sock
        self._loop_task = asyncio.create_task(self._serve(), name="conflink-control")
        log.info("control endpoint %s bound", ep.url)

    def _bind(self, sock: zmq.asyncio.Socket, ep: Endpoint) -> None:
        try:
            if ep.transport == "ipc":
                # Keep the socket file private from its creation on; the worker is single
                # threaded at this point, so the process-wide umask change is not raced.
                old = os.umask(0o077)
                try:
                    sock.bind(ep.url)
                finally:
                    os.umask(old)
                os.chmod(ep.path, 0o600)
            else:
                sock.bind(ep.url)
        except zmq.ZMQError as e:
            if e.errno == zmq.EADDRINUSE:
                raise EndpointInUseError(
                    f"control endpoint {ep.url} is already in use (another conflink-worker running?)"
                ) from e
            raise ControlEndpointError(f"cannot bind control endpoint {ep.url}: {e}") from e
        except OSError as e:
            raise ControlEndpointError(f"cannot bind control endpoint {ep.url}: {e}") from e

    def _take_ipc_lock(self, path: str) -> None:
        # A second bind on an ipc path silently steals it from the first worker, so the
        # lock file is the single-instance guard for ipc endpoints.
        folder = os.path.dirname(path) or "/"
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError as e:
            raise ControlEndpointError(f"cannot create folder {folder} for ipc://{path}: {e}") from e
        lock_path = path + ".lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise ControlEndpointError(f"cannot open lock file {lock_path}: {e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise EndpointInUseError(
                    f"control endpoint ipc://{path} is already in use (another conflink-worker running?"
                    f" lock file {lock_path} is held)"
                ) from e
            raise ControlEndpointError(f"cannot lock {lock_path}: {e}") from e
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        self._lock_path = lock_path

    def _release_ipc_lock(self) -> None:
        if self._lock_fd is not None:
            # The lock file itself stays: unlinking it would let a third process lock a
            # fresh inode while a second one still waits on the old one.
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    async def close(self) -> None:
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close(linger=0)
            if self.endpoint.transport == "ipc" and self._lock_fd is not None:
                # Still holding the lock, so the file is ours: no stale socket left behind.
                with contextlib.suppress(OSError):
                    os.unlink(self.endpoint.path)
        self._release_ipc_lock()

    async def _serve(self) -> None:
        assert self._sock is not None
        sock = self._sock
        while True:
            try:
                frames = await sock.recv_multipart()
            except zmq.ZMQError as e:
                if sock.closed:
                    return
                log.warning("control socket receive error: %s", e)
                await asyncio.sleep(0.05)
                continue
            await self._slots.acquire()
            task = asyncio.create_task(self._serve_one(sock, frames))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve_one(self, sock: zmq.asyncio.Socket, frames: list[bytes]) -> None:
        try:
            envelope, body = _split_envelope(frames)
            if not envelope:
                return  # nothing to route a reply to (cannot happen on ROUTER)
            reply = await self._reply_for(body)
            self.requests_served += 1
            try:
                await sock.send_multipart([*envelope, encode_reply(reply)])
            except zmq.ZMQError as e:
                if not sock.closed:
                    log.debug("control reply not sent: %s", e)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("control request failed")
        finally:
            self._slots.release()

    async def _reply_for(self, body: list[bytes]) -> dict[str, Any]:
        request, error = decode_request(body, self._max)
        if request is None:
            return {"ok": False, "error": error}
        try:
            reply = await self._handle(request)
        except Exception as e:
            log.exception("control handler raised")
            return {"ok": False, "error": f"internal error: {type(e).__name__}: {e}"}
        if not isinstance(reply, dict):
            return {"ok": False, "error": "internal error: handler returned no object"}
        return reply


def _split_envelope(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """ROUTER frames → (routing envelope to echo, request body frames)."""
    if not frames:
        return [], []
    if len(frames) >= 2 and frames[1] == b"":
        return frames[:2], frames[2:]  # REQ peer: identity, empty delimiter
    return frames[:1], frames[1:]  # DEALER peer: identity only


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _invalid(msg: str) -> tuple[None, str]:
    return None, msg


def decode_request(
    body: list[bytes], max_bytes: int = MAX_REQUEST_BYTES
) -> tuple[dict[str, Any], None] | tuple[None, str]:
    """Body frames → (request object, None) or (None, what is wrong with it)."""
    if not body:
        return _invalid("empty request: expected one frame holding a JSON object")
    if len(body) != 1:
        return _invalid(f"request must be a single frame holding a JSON object, got {len(body)} frames")
    raw = body[0]
    if len(raw) > max_bytes:
        return _invalid(f"request too large: {len(raw)} bytes (limit {max_bytes})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return _invalid(f"request is not valid UTF-8 (byte {e.start})")
    try:
        doc = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        return _invalid("request is not valid JSON: nested too deeply")
    except ValueError as e:
        return _invalid(f"request is not valid JSON: {e}")
    if not isinstance(doc, dict):
        return _invalid(f"request must be a JSON object, got {_json_type(doc)}")
    return doc, None


def _json_type(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _jsonable(v: Any) -> Any:
    """Make a reply serialisable as strict JSON (no NaN/Infinity, which PHP cannot read)."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return str(v)


def encode_reply(reply: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(reply, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        text = json.dumps(_jsonable(reply), allow_nan=False, ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------------------------
# Handler
# --------------------------------------------------------------------------------------------


class EngineLike(Protocol):
    config: Any

    async def apply_config(self, config: Any) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    async def dial(self, link_id: str, *, force: bool = False, seconds: float | None = None) -> dict[str, Any]: ...

    async def hangup(self, link_id: str) -> dict[str, Any]: ...

    async def send_dtmf(self, link_id: str, digits: str) -> dict[str, Any]: ...

    async def mute(self, link_id: str, muted: bool) -> dict[str, Any]: ...


class ControlHandler:
    """Turns control requests into engine calls; validates every field it reads.

    ``started_at`` is a ``time.monotonic()`` value (a ``time.time()`` value is recognised
    too). ``bound_endpoint`` is the endpoint the server listens on; when omitted it is taken
    from the engine's config at construction (or the default endpoint).
    """

    def __init__(
        self,
        engine: EngineLike,
        config_path: str | os.PathLike[str],
        version: str,
        started_at: float,
        *,
        bound_endpoint: str | None = None,
    ) -> None:
        self.engine = engine
        self.config_path = Path(config_path)
        self.version = version
        self.started_at = started_at
        if bound_endpoint is None:
            bound_endpoint = _config_endpoint(engine.config)
        self.bound_endpoint = bound_endpoint
        self._apply_lock = asyncio.Lock()

    def uptime(self) -> float:
        # Monotonic clocks count from boot (far below 1e9 s); larger values are wall-clock.
        now = time.time() if self.started_at > 1e9 else time.monotonic()
        return max(0.0, now - self.started_at)

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._handle(request)
        except Exception as e:
            log.exception("control request %r failed", request.get("cmd"))
            return {"ok": False, "error": f"internal error: {type(e).__name__}: {e}"}

    def _authorized(self, request: dict[str, Any]) -> bool:
        token = _config_token(self.engine.config)
        if not token:
            return True
        given = request.get("token")
        if not isinstance(given, str):
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass"))

    async def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(request, dict):
            return {"ok": False, "error": "request must be a JSON object"}
        # Authorisation first: an unauthenticated client learns nothing about the request.
        if not self._authorized(request):
            return {"ok": False, "error": "unauthorized"}
        if "token" in request and not isinstance(request["token"], str):
            return {"ok": False, "error": "token: must be a string"}
        cmd = request.get("cmd")
        if cmd is None:
            return {"ok": False, "error": f"cmd: missing (expected one of {', '.join(COMMAND_KEYS)})"}
        if not isinstance(cmd, str):
            return {"ok": False, "error": f"cmd: must be a string, got {_json_type(cmd)}"}
        allowed = COMMAND_KEYS.get(cmd)
        if allowed is None:
            return {
                "ok": False,
                "error": f"cmd: unknown command {_short(cmd)} (expected one of {', '.join(COMMAND_KEYS)})",
            }
        unknown = sorted(str(k) for k in request if k not in allowed)
        if unknown:
            return {"ok": False, "error": f"{_short(unknown[0])}: unknown key for cmd {cmd!r}"}
        if cmd == "ping":
            return {"ok": True, "version": self.version}
        if cmd == "status":
            return self._status()
        if cmd == "apply_config":
            return await self._apply_config(request)
        if cmd == "dial":
            return await self._dial(request)
        if cmd == "dtmf":
            return await self._dtmf(request)
        if cmd in ("mute", "unmute"):
            return await self._mute(request, cmd == "mute")
        return await self._hangup(request)

    def _status(self) -> dict[str, Any]:
        st = self.engine.status()
        if not isinstance(st, dict):
            return {"ok": False, "error": "internal error: engine status is not an object"}
        return {**st, "version": self.version, "uptime": round(self.uptime(), 3), "ok": True}

    async def _apply_config(self, request: dict[str, Any]) -> dict[str, Any]:
        from conflink.config import ConfigError, parse_config, write_config_atomic

        if "config" not in request:
            return {"ok": False, "error": "config: missing"}
        doc = request["config"]
        if not isinstance(doc, dict):
            return {"ok": False, "error": f"config: must be an object, got {_json_type(doc)}"}
        try:
            config = parse_config(doc)
        except ConfigError as e:
            return {"ok": False, "error": f"invalid config: {e}"}
        async with self._apply_lock:
            old = self.engine.config
            # Disk first: if it cannot be written, nothing has changed anywhere. The engine
            # swap never fails on a validated config; should it anyway, the old file is
            # restored so disk and memory keep agreeing. The write is a small file with one
            # fsync, done inline so that no request can observe a half-applied state.
            try:
                write_config_atomic(self.config_path, config.raw)
            except OSError as e:
                return {"ok": False, "error": f"config not saved to {self.config_path}: {e}"}
            try:
                result = await self.engine.apply_config(config)
            except Exception as e:
                log.exception("engine.apply_config raised; restoring the previous config file")
                self._restore(old)
                return {"ok": False, "error": f"internal error applying config: {type(e).__name__}: {e}"}
        notes = [str(n) for n in (result or {}).get("notes", [])] if isinstance(result, dict) else []
        new_ep = _config_endpoint(config)
        if new_ep != self.bound_endpoint:
            notes.append(f"control.endpoint change takes effect after restart (still serving {self.bound_endpoint})")
        return {"ok": True, "notes": notes}

    def _restore(self, old: Any) -> None:
        from conflink.config import write_config_atomic

        try:
            if old is not None and isinstance(getattr(old, "raw", None), dict):
                write_config_atomic(self.config_path, old.raw)
            else:
                self.config_path.unlink(missing_ok=True)
        except OSError:
            log.exception("could not restore %s", self.config_path)

    def _link_arg(self, request: dict[str, Any]) -> tuple[str | None, str | None]:
        if "link" not in request:
            return None, "link: missing"
        link = request["link"]
        if not isinstance(link, str):
            return None, f"link: must be a string, got {_json_type(link)}"
        if not is_link_id(link):
            return None, f"link: {_short(link)} is not a valid link id"
        ids = _config_link_ids(self.engine.config)
        if ids is not None and link not in ids:
            return None, f"link: no link with id {link!r}"
        return link, None

    async def _dial(self, request: dict[str, Any]) -> dict[str, Any]:
        link, err = self._link_arg(request)
        if err:
            return {"ok": False, "error": err}
        force = request.get("force", False)
        if not isinstance(force, bool):
            return {"ok": False, "error": f"force: must be true or false, got {_json_type(force)}"}
        seconds = request.get("seconds")
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                return {"ok": False, "error": f"seconds: must be a number, got {_json_type(seconds)}"}
            seconds = float(seconds)
            error = check_test_call_seconds(seconds)
            if error is not None:
                return {"ok": False, "error": error}
        assert link is not None
        return _engine_reply(await self.engine.dial(link, force=force, seconds=seconds))

    async def _hangup(self, request: dict[str, Any]) -> dict[str, Any]:
        link, err = self._link_arg(request)
        if err:
            return {"ok": False, "error": err}
        assert link is not None
        return _engine_reply(await self.engine.hangup(link))


    async def _dtmf(self, request: dict[str, Any]) -> dict[str, Any]:
        from conflink.config import check_send_digits

        link, err = self._link_arg(request)
        if err:
            return {"ok": False, "error": err}
        if "digits" not in request:
            return {"ok": False, "error": "digits: missing"}
        digits = request["digits"]
        if (err := check_send_digits(digits)) is not None:
            if not isinstance(digits, str):
                err = f"digits: must be a string, got {_json_type(digits)}"
            return {"ok": False, "error": err}
        assert link is not None
        return _engine_reply(await self.engine.send_dtmf(link, digits))

    async def _mute(self, request: dict[str, Any], muted: bool) -> dict[str, Any]:
        link, err = self._link_arg(request)
        if err:
            return {"ok": False, "error": err}
        assert link is not None
        return _engine_reply(await self.engine.mute(link, muted))


def _engine_reply(res: object) -> dict[str, Any]:
    if not isinstance(res, dict):
        return {"ok": False, "error": "internal error: engine returned no object"}
    out = dict(res)
    out["ok"] = bool(out.get("ok", False))
    if not out["ok"] and "error" not in out:
        out["error"] = "failed"
    return out


def _short(v: str, limit: int = 60) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 4] + "...'"


def _config_endpoint(config: Any) -> str:
    from conflink.config import DEFAULT_ENDPOINT

    ep = getattr(getattr(config, "control", None), "endpoint", None)
    return ep if isinstance(ep, str) and ep else DEFAULT_ENDPOINT


def _config_token(config: Any) -> str:
    tok = getattr(getattr(config, "control", None), "token", None)
    return tok if isinstance(tok, str) else ""


def _config_link_ids(config: Any) -> set[str] | None:
    links = getattr(config, "links", None)
    if links is None:
        return None
    return {str(getattr(lk, "id", "")) for lk in links}

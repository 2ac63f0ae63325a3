"""The panoramisk edge: one AMI connection with panoramisk 1.4's traps disarmed.

- Nothing is ever re-sent after a reconnect (every action we use is "forgetable"): a replayed
  Originate would dial a second external call.
- Pending futures fail at once on disconnect instead of hanging forever.
- Reconnect uses exponential back-off; a refused login is reported, not looped silently.
- Event callbacks never raise into panoramisk (a raising callback drops the connection).
- "Ready" means logged in AND FullyBooted: AMI answers before app_confbridge is loaded.
- No periodic Ping: the engine's once-a-minute reconcile doubles as the liveness check, so
  an idle worker sends at most one request per minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from panoramisk import Manager

from .config import AmiConfig

log = logging.getLogger("conflink.ami")

FORGETABLE = (
    "ping", "login", "logoff", "originate", "hangup", "confbridgelist", "confbridgelistrooms",
    "coreshowchannels", "confbridgekick", "getvar", "command", "setvar",
    # A replayed PlayDTMF would send stray digits to the far end; a replayed mute could undo
    # a later unmute.
    "playdtmf", "confbridgemute", "confbridgeunmute",
)
BACKOFF_START = 0.5
BACKOFF_MAX = 15.0
AUTH_FAILED_BACKOFF = 30.0
# Generous: an overloaded Asterisk answers late, and aborting would add a full resync to its load.
REQUEST_TIMEOUT = 30.0
_NEVER = 10**8  # seconds; disables panoramisk's blind pinger


class AmiNotReady(ConnectionError):
    pass


class _Manager(Manager):
    """panoramisk Manager with hooks at the points where 1.4 misbehaves."""

    def __init__(self, client: AmiClient, **config: Any) -> None:
        super().__init__(**config)
        self._client = client
        self._stopped = False

    def connect(self, run_forever: bool = False, on_startup: Any = None, on_shutdown: Any = None) -> Any:
        if self._stopped:
            return None  # a reconnect scheduled before close() must not revive us
        return super().connect()

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if self._stopped:
            if not f.cancelled() and f.exception() is None:
                f.result()[0].close()
            return
        if f.cancelled() or f.exception() is not None:
            exc = None if f.cancelled() else f.exception()
            self.reconnect_timeout = self._client.next_backoff()
            self._client.note_connect_failed(exc)
            if not isinstance(exc, OSError):
                # panoramisk reschedules only on OSError (a bad name raises UnicodeError).
                self.loop.call_later(self.reconnect_timeout, self.connect)
                return
        super().connection_made(f)

    def login(self, future: asyncio.Future[Any]) -> bool:
        if future.cancelled() or future.exception() is not None:
            return False
        ok = bool(super().login(future))
        if not ok:
            self.reconnect_timeout = AUTH_FAILED_BACKOFF
            self._client.note_auth_failed(str(future.result().get("Message", "")))
        return ok

    def connection_lost(self, exc: Any) -> None:
        self._client.fail_pending()
        if self._stopped:
            return
        if not self._client.auth_failed:
            self.reconnect_timeout = self._client.next_backoff()
        super().connection_lost(exc)

    def stop(self) -> None:
        self._stopped = True
        self.close()


class AmiClient:
    """Connection state and typed actions; events go to `on_event`, readiness to `on_ready`."""

    def __init__(
        self,
        config: AmiConfig,
        on_event: Callable[[str, Any], None],
        on_ready: Callable[[bool], None],
    ) -> None:
        self.config = config
        self._on_event = on_event
        self._on_ready = on_ready
        self._manager: _Manager | None = None
        self.connected = False
        self.logged_in = False
        self.booted = False
        self.auth_failed = False
        self.last_error = ""
        self.connects = 0
        self.requests_sent = 0
        self._backoff = BACKOFF_START
        self._pending: set[asyncio.Future[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def ready(self) -> bool:
        return self.logged_in and self.booted

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._manager = _Manager(
            self,
            host=self.config.host,
            port=self.config.port,
            username=self.config.username,
            secret=self.config.secret,
            events="system,call,user,dtmf",  # dtmf: DTMFEnd of room members (room_keys)
            loop=loop,
            ping_delay=_NEVER,
            ping_interval=_NEVER,
            reconnect_timeout=1,
            forgetable_actions=FORGETABLE,
            on_connect=self._connected,
            on_login=self._logged_in,
            on_disconnect=self._disconnected,
            log=logging.getLogger("conflink.ami.panoramisk"),
        )
        self._manager.register_event("*", self._dispatch)
        # Not awaited: a host that drops SYNs would hold a config push for the kernel's
        # connect timeout. The task's done-callback reports and schedules the retry.
        self._manager.connect()

    def stop(self) -> None:
        if self._manager is not None:
            self._manager.stop()
        self.fail_pending()
        self._set_ready(False)
        self.connected = self.logged_in = self.booted = False

    def next_backoff(self) -> float:
        delay = self._backoff
        self._backoff = min(BACKOFF_MAX, self._backoff * 2)
        return delay

    def note_connect_failed(self, exc: BaseException | None) -> None:
        first = not self.last_error.startswith("cannot connect")
        self.last_error = f"cannot connect: {exc}"
        if first:
            log.warning("AMI %s:%s not reachable: %s (retrying with back-off)", self.config.host, self.config.port, exc)

    def note_auth_failed(self, message: str) -> None:
        self.auth_failed = True
        self.last_error = f"login as {self.config.username!r} refused: {message or 'authentication failed'}"
        log.error("AMI %s (check ami.username/ami.secret); retrying in %.0f s", self.last_error, AUTH_FAILED_BACKOFF)

    def abort_connection(self, why: str) -> None:
        """Drop a connection that stopped answering; panoramisk then reconnects."""
        manager = self._manager
        transport = getattr(getattr(manager, "protocol", None), "transport", None)
        if transport is not None:
            log.warning("AMI connection unresponsive (%s); reconnecting", why)
            transport.abort()

    # ------------------------------------------------------------------ callbacks

    def _connected(self, manager: Any) -> None:
        self.connected = True
        self.connects += 1
        log.info("AMI connected to %s:%s", self.config.host, self.config.port)

    def _logged_in(self, manager: Any) -> None:
        self._note_logged_in()
        log.info("AMI logged in as %s%s", self.config.username, "" if self.booted else "; waiting for FullyBooted")

    def _note_logged_in(self) -> None:
        # Also reached from FullyBooted, which can overtake on_login: ready must never be seen
        # with the previous refusal still standing.
        self.logged_in = True
        self.auth_failed = False
        self.last_error = ""
        self._backoff = BACKOFF_START

    def _disconnected(self, manager: Any, exc: Any) -> None:
        was_ready = self.ready
        self.connected = self.logged_in = self.booted = False
        if was_ready:
            log.warning("AMI connection lost")
        self._set_ready(False)

    def _set_ready(self, ready: bool) -> None:
        try:
            self._on_ready(ready)
        except Exception:
            log.exception("ready handler failed")

    def _dispatch(self, manager: Any, message: Any) -> None:
        # Never let an exception reach panoramisk: it would drop the connection.
        try:
            name = str(message.get("Event", ""))
            if name == "FullyBooted":
                # Events flow only to an authenticated session; on_login is call_soon'd by
                # panoramisk, so this event can arrive before it runs.
                if not self.booted:
                    self._note_logged_in()
                    self.booted = True
                    self._set_ready(True)
                return
            if name == "Shutdown":
                self.booted = False
                self._set_ready(False)
                return
            self._on_event(name, message)
        except Exception:
            log.exception("error while handling AMI event %r", message.get("Event"))

    # ------------------------------------------------------------------ actions

    def send(self, action: dict[str, Any]) -> asyncio.Future[Any]:
        """Send now, without waiting; the future completes with the response(s)."""
        manager = self._manager
        if manager is None or not self.ready or manager.protocol is None:
            raise AmiNotReady("AMI not ready")
        self.requests_sent += 1
        future: asyncio.Future[Any] = manager.send_action(action)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def fail_pending(self) -> None:
        """Fail whatever was waiting instead of leaving it pending forever (panoramisk drops them)."""
        for future in list(self._pending):
            if not future.done():
                future.set_exception(AmiNotReady("AMI connection lost"))
        self._pending.clear()

    async def request(self, action: dict[str, str], timeout: float = REQUEST_TIMEOUT) -> list[Any]:  # noqa: ASYNC109
        """Send and wait, normalised to a list of messages (errors are a one-element list)."""
        future = self.send(action)
        try:
            result = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.abort_connection(f"{action.get('Action')} got no answer in {timeout:g} s")
            raise AmiNotReady("AMI request timed out") from None
        return list(result) if isinstance(result, list) else [result]

    async def list_events(self, action: dict[str, str], item_event: str) -> list[Any] | None:
        """Items of an EventList action; [] for ConfBridge's "nothing there" errors, None on other errors."""
        messages = await self.request(action)
        head = messages[0] if messages else None
        if head is not None and str(head.get("Response", "")).lower() == "error":
            text = str(head.get("Message", ""))
            if "No active conferences" in text or "No Conference by that name" in text:
                return []
            log.warning("%s failed: %s", action.get("Action"), text)
            return None
        return [m for m in messages if str(m.get("Event", "")) == item_event]

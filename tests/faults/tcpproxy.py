"""A small TCP proxy between the worker and Asterisk's AMI, to cut the connection on purpose.

The tests are plain sequential scripts, so the proxy relays in background threads (one per
direction and connection). What it can do:

- ``cut()``: close every relayed connection now (the worker sees EOF, Asterisk a lost session);
- ``refuse(True)``: accept and close new connections at once (AMI "down") until ``refuse(False)``;
- ``cut_on(marker, forward=True)``: the next client chunk containing ``marker`` (e.g.
  ``b"Action: Originate"``) triggers a cut. With ``forward=True`` the chunk reaches Asterisk
  first and *nothing* Asterisk answers after that point reaches the worker: "sent, then cut
  before its response". With ``forward=False`` the chunk is dropped: "lost on the wire".
- ``drop_events(marker)``: AMI messages from Asterisk containing ``marker`` (e.g.
  ``b"Event: ConfbridgeJoin"``) never reach the worker, the connection stays up: "missed
  events"; ``drop_events(None)`` stops dropping.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class _Conn:
    def __init__(self, client: socket.socket, server: socket.socket):
        self.client, self.server = client, server
        self.frozen = False  # server->client relay stopped (nothing more reaches the client)
        self.pending = b""  # server->client bytes not yet forwarded (an AMI message split by recv)
        self.closed = False
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


class AmiCutProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self._conns: list[_Conn] = []
        self._lock = threading.Lock()
        self._refusing = False
        self._trigger: tuple[bytes, bool] | None = None
        self._drop: bytes | None = None
        self.dropped: list[bytes] = []  # AMI messages kept from the worker
        self._stopped = False
        self.accepted = 0  # connections relayed (a reconnect adds one)
        self.accept_times: list[float] = []
        self.cuts: list[dict[str, object]] = []  # what was cut, when, why
        self.client_bytes = bytearray()  # everything the worker sent, for the record
        self._thread = threading.Thread(target=self._accept_loop, name=f"amiproxy-{self.port}", daemon=True)
        self._thread.start()

    # --- control ---------------------------------------------------------------------------
    def cut(self, why: str = "cut") -> int:
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            c.frozen = True
            c.close()
        self.cuts.append({"t": time.time(), "why": why, "connections": len(conns)})
        return len(conns)

    def refuse(self, on: bool) -> None:
        self._refusing = on

    def cut_on(self, marker: bytes, forward: bool = True) -> None:
        self._trigger = (marker, forward)

    def drop_events(self, marker: bytes | None) -> None:
        self._drop = marker

    @property
    def armed(self) -> bool:
        return self._trigger is not None

    def wait_cut(self, timeout: float) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while self._trigger is not None:
            if time.monotonic() > deadline:
                raise TimeoutError("the proxy's cut trigger did not fire")
            time.sleep(0.01)
        return self.cuts[-1]

    def wait_connections(self, n: int, timeout: float) -> None:
        """Until `n` connections in total were accepted and relayed."""
        deadline = time.monotonic() + timeout
        while self.accepted < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.accepted} connection(s) through the proxy, wanted {n}")
            time.sleep(0.02)

    def close(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._lsock.close()
        self.cut("proxy closed")

    # --- relay -----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._lsock.accept()
            except OSError:
                return
            if self._refusing:
                with contextlib.suppress(OSError):
                    client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                with contextlib.suppress(OSError):
                    client.close()
                continue
            server.settimeout(None)
            conn = _Conn(client, server)
            with self._lock:
                self._conns.append(conn)
            self.accepted += 1
            self.accept_times.append(time.time())
            threading.Thread(target=self._up, args=(conn,), daemon=True).start()
            threading.Thread(target=self._down, args=(conn,), daemon=True).start()

    def _up(self, conn: _Conn) -> None:
        """worker -> Asterisk, watching for the trigger."""
        try:
            while True:
                data = conn.client.recv(65536)
                if not data:
                    break
                self.client_bytes.extend(data)
                trig = self._trigger
                if trig is not None and trig[0] in data:
                    marker, forward = trig
                    conn.frozen = True  # first: no answer may reach the worker any more
                    if forward:
                        conn.server.sendall(data)
                        time.sleep(0.05)  # let Asterisk read it before the socket goes
                    with self._lock:
                        if conn in self._conns:
                            self._conns.remove(conn)
                    conn.close()
                    self.cuts.append({
                        "t": time.time(), "why": f"trigger {marker.decode(errors='replace')!r}",
                        "forwarded": forward, "connections": 1,
                    })
                    self._trigger = None
                    return
                conn.server.sendall(data)
        except OSError:
            pass
        conn.close()

    def _filter(self, conn: _Conn, data: bytes) -> bytes:
        """Whole AMI messages pass, except those carrying the drop marker. Without a marker the
        bytes pass untouched (the login banner is a single line, not a message)."""
        if self._drop is None:
            data, conn.pending = conn.pending + data, b""
            return data
        *messages, conn.pending = (conn.pending + data).split(b"\r\n\r\n")
        out = []
        for message in messages:
            if self._drop is not None and self._drop in message:
                self.dropped.append(message)
            else:
                out.append(message + b"\r\n\r\n")
        return b"".join(out)

    def _down(self, conn: _Conn) -> None:
        """Asterisk -> worker, unless frozen."""
        try:
            while True:
                data = conn.server.recv(65536)
                if not data or conn.frozen:
                    break
                conn.client.sendall(self._filter(conn, data))
        except OSError:
            pass
        conn.close()

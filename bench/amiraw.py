"""A bare asyncio AMI client for the baselines: no library, no reconnect, no validation.

It is deliberately the least work a client can do between a socket read and a socket write,
so the floor baseline measures Asterisk and the kernel, not a framework.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

Message = dict[str, str]


class RawAmi:
    def __init__(self, on_event: Callable[[Message], None] | None = None) -> None:
        self.on_event = on_event
        self.requests_sent = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        # ActionID -> (future, collected messages); list actions complete on EventList: Complete.
        self._pending: dict[str, tuple[asyncio.Future[list[Message]], list[Message]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def connect(self, host: str, port: int, username: str, secret: str, events: bool) -> None:
        self._reader, self._writer = await asyncio.open_connection(host, port)
        await self._reader.readline()  # greeting
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        resp = await self.request({"Action": "Login", "Username": username, "Secret": secret,
                                   "Events": "on" if events else "off"})
        if resp[0].get("Response") != "Success":
            raise ConnectionError(f"AMI login refused: {resp[0]}")

    def send(self, fields: dict[str, Any]) -> str:
        """Write one action now; returns its ActionID. Nobody waits for the answer."""
        assert self._writer is not None
        aid = str(next(self._ids))
        lines = [f"ActionID: {aid}"]
        for key, value in fields.items():
            for v in value if isinstance(value, list) else [value]:
                lines.append(f"{key}: {v}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.requests_sent += 1
        return aid

    async def request(self, fields: dict[str, Any], timeout: float = 10.0) -> list[Message]:  # noqa: ASYNC109
        future: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
        aid = self.send(fields)
        self._pending[aid] = (future, [])
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(aid, None)

    async def _read_loop(self) -> None:
        assert self._reader is not None
        msg: Message = {}
        while True:
            raw = await self._reader.readline()
            if not raw:
                break
            line = raw.decode(errors="replace").rstrip("\r\n")
            if line:
                key, _, value = line.partition(": ")
                msg.setdefault(key, value)
                continue
            if msg:
                self._dispatch(msg)
                msg = {}
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("AMI connection closed"))

    def _dispatch(self, msg: Message) -> None:
        aid = msg.get("ActionID")
        pending = self._pending.get(aid) if aid is not None else None
        if pending is None:
            if "Event" in msg and self.on_event is not None:
                self.on_event(msg)
            return
        future, got = pending
        got.append(msg)
        listing = msg.get("EventList", "").lower()
        if (len(got) == 1 and "Response" in msg and listing != "start") or listing == "complete":
            if not future.done():
                future.set_result(got)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()


def originate_fields(room: str, number: str, endpoint: str, context: str, call_id: str) -> dict[str, Any]:
    """The same Originate the worker sends (design contract), so every contender costs Asterisk the same."""
    return {
        "Action": "Originate", "Async": "true", "Channel": f"PJSIP/{number}@{endpoint}",
        "Context": context, "Exten": room, "Priority": "1", "Timeout": "60000", "ChannelId": call_id,
        "Variable": ["CONFLINK_LINK=bench", f"CONFLINK_ROOM={room}", "CONFLINK_DTMF=",
                     "CONFLINK_DTMF_DELAY_MS=0"],
    }

"""AmiClient at the wire: the real panoramisk 1.4 protocol over a real TCP socket, against a
small Asterisk stand-in that speaks AMI bytes (banner, Login, responses, events) and can
refuse, drop or go silent. Like panoramisk's own testing manager, bytes go through the
protocol's data_received; unlike it, the transport is a real socket, so reconnects happen.

Waits are `until`-style with deadlines; back-off constants are shortened for the test."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from conflink import ami as ami_mod
from conflink.ami import AmiClient, AmiNotReady
from conflink.config import AmiConfig

FIXTURES = Path(__file__).parent / "fixtures"
EOL = "\r\n"


def wire(fields: dict[str, Any]) -> bytes:
    lines = []
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key}: {item}")
    return (EOL.join(lines) + EOL + EOL).encode()


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.actions: list[dict[str, str]] = []
        self.closed = asyncio.Event()

    def send(self, data: bytes | dict[str, Any]) -> None:
        self.writer.write(data if isinstance(data, bytes) else wire(data))

    def drop(self) -> None:
        self.writer.close()


class FakeAsterisk:
    """Answers Login (or refuses it), then every action with Success unless told otherwise."""

    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.accept_login = True
        self.boot = True
        self.silent: set[str] = set()  # actions (lower-case) left unanswered
        self.after_login: list[dict[str, Any]] = []  # events in the Login answer's segment
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for c in self.conns:
            c.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def conn(self) -> Conn:
        return self.conns[-1]

    def all_actions(self) -> list[str]:
        return [a.get("Action", "").lower() for c in self.conns for a in c.actions]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer)
        self.conns.append(conn)
        conn.send(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                action = dict(
                    line.split(": ", 1) for line in block.decode().strip().split("\r\n") if ": " in line
                )
                conn.actions.append(action)
                self._answer(conn, action)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            conn.closed.set()
            writer.close()

    def _answer(self, conn: Conn, action: dict[str, str]) -> None:
        name, action_id = action.get("Action", "").lower(), action.get("ActionID", "")
        if name == "login":
            if not self.accept_login:
                conn.send({"Response": "Error", "ActionID": action_id, "Message": "Authentication failed"})
                conn.drop()
                return
            answer = wire({"Response": "Success", "ActionID": action_id, "Message": "Authentication accepted"})
            if self.boot:  # in the same segment, as Asterisk writes them
                answer += wire({"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"})
            answer += b"".join(wire(e) for e in self.after_login)
            conn.send(answer)
            return
        if name in self.silent:
            return
        conn.send({"Response": "Success", "ActionID": action_id, "Message": "ok"})


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.ready: list[bool] = []
        self.raise_on: set[str] = set()

    def on_event(self, name: str, message: Any) -> None:
        if name in self.raise_on:
            raise RuntimeError(f"handler bug on {name}")
        self.events.append(dict(message))

    def on_ready(self, ready: bool) -> None:
        self.ready.append(ready)


async def until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def asterisk(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAsterisk]:
    monkeypatch.setattr(ami_mod, "BACKOFF_START", 0.05)
    monkeypatch.setattr(ami_mod, "AUTH_FAILED_BACKOFF", 0.3)
    server = FakeAsterisk()
    await server.start()
    yield server
    await server.close()


async def connected(asterisk: FakeAsterisk, rec: Recorder | None = None) -> tuple[AmiClient, Recorder]:
    rec = rec or Recorder()
    client = AmiClient(AmiConfig(host="127.0.0.1", port=asterisk.port, username="conflink", secret="s"),
                       rec.on_event, rec.on_ready)
    await client.start()
    await until(lambda: client.ready, "client ready")
    return client, rec


@pytest.mark.asyncio
async def test_ready_only_after_login_and_fully_booted(asterisk: FakeAsterisk) -> None:
    asterisk.boot = False
    rec = Recorder()
    client = AmiClient(AmiConfig(port=asterisk.port, secret="s"), rec.on_event, rec.on_ready)
    await client.start()
    await until(lambda: client.logged_in, "logged in")
    login = asterisk.conn.actions[0]
    assert login["Action"] == "Login" and login["Username"] == "conflink" and login["Secret"] == "s"
    assert not client.ready and rec.ready == []
    with pytest.raises(AmiNotReady):
        client.send({"Action": "CoreShowChannels"})
    # FullyBooted and an event in one TCP segment: both handled, in order
    asterisk.conn.send(wire({"Event": "FullyBooted", "Status": "Fully Booted"})
                       + wire({"Event": "ConfbridgeJoin", "Conference": "1", "Uniqueid": "a"}))
    await until(lambda: rec.events, "event delivered")
    assert client.ready and rec.ready == [True]
    assert [e["Event"] for e in rec.events] == ["ConfbridgeJoin"]
    client.stop()


@pytest.mark.asyncio
async def test_events_before_the_login_callback_are_delivered_once_ready(asterisk: FakeAsterisk) -> None:
    # panoramisk runs on_login with call_soon: FullyBooted and the first events, read in the
    # same segment as the Login answer, reach us before it.
    asterisk.after_login = [{"Event": "ConfbridgeJoin", "Conference": "7", "Uniqueid": "early"}]
    rec = Recorder()
    client = AmiClient(AmiConfig(port=asterisk.port, secret="s"), rec.on_event, rec.on_ready)
    await client.start()
    await until(lambda: rec.events, "early event")
    assert client.ready and rec.ready == [True] and rec.events[0]["Uniqueid"] == "early"
    await until(lambda: client.connects == 1, "on_connect ran")
    assert client.logged_in and client.last_error == ""
    client.stop()


@pytest.mark.asyncio
async def test_refused_login_is_reported_and_retried_slowly(asterisk: FakeAsterisk) -> None:
    asterisk.accept_login = False
    rec = Recorder()
    client = AmiClient(AmiConfig(port=asterisk.port, username="bad", secret="s"), rec.on_event, rec.on_ready)
    await client.start()
    await until(lambda: client.auth_failed, "login refused")
    assert "login as 'bad' refused: Authentication failed" in client.last_error
    t0 = asyncio.get_running_loop().time()
    await until(lambda: len(asterisk.conns) >= 2, "second attempt")
    assert asyncio.get_running_loop().time() - t0 >= 0.2  # the slow back-off, not a tight loop
    asterisk.accept_login = True
    await until(lambda: client.ready, "ready after the secret was fixed", within=5)
    assert not client.auth_failed and client.last_error == ""
    client.stop()


@pytest.mark.asyncio
async def test_ready_after_a_refusal_never_shows_the_old_refusal(asterisk: FakeAsterisk) -> None:
    # FullyBooted comes in the Login answer's segment and is dispatched before panoramisk's
    # call_soon'd on_login: the readiness it announces must already have the refusal cleared.
    asterisk.accept_login = False
    seen: list[tuple[bool, bool, str]] = []
    client: AmiClient | None = None

    def on_ready(ready: bool) -> None:
        assert client is not None
        seen.append((ready, client.auth_failed, client.last_error))

    client = AmiClient(AmiConfig(port=asterisk.port, username="u", secret="s"), lambda *_: None, on_ready)
    await client.start()
    await until(lambda: client.auth_failed, "login refused")
    asterisk.accept_login = True
    await until(lambda: any(r for r, _, _ in seen), "ready", within=5)
    assert [s for s in seen if s[0]] == [(True, False, "")]
    client.stop()


@pytest.mark.asyncio
async def test_pending_actions_fail_on_loss_then_reconnect_with_backoff(asterisk: FakeAsterisk) -> None:
    client, rec = await connected(asterisk)
    asterisk.silent.add("coreshowchannels")
    future = client.send({"Action": "CoreShowChannels"})
    await until(lambda: "coreshowchannels" in asterisk.all_actions(), "action on the wire")
    asterisk.conn.drop()
    with pytest.raises(AmiNotReady):
        await asyncio.wait_for(future, 5)
    await until(lambda: rec.ready[-1:] == [False], "not ready")
    await until(lambda: client.ready and len(asterisk.conns) == 2, "reconnected")
    assert rec.ready == [True, False, True]
    client.stop()


@pytest.mark.asyncio
async def test_no_action_is_resent_after_a_reconnect(asterisk: FakeAsterisk) -> None:
    # panoramisk queues unanswered non-forgetable actions and replays them on FullyBooted: a
    # replayed Originate would dial a second external call.
    client, _ = await connected(asterisk)
    asterisk.silent.update({"originate", "playdtmf", "confbridgemute", "hangup"})
    futures = [client.send({"Action": "Originate", "Channel": "PJSIP/1@x", "Async": "true"}),
               client.send({"Action": "PlayDTMF", "Channel": "PJSIP/x-1", "Digit": "1"}),
               client.send({"Action": "ConfbridgeMute", "Conference": "1", "Channel": "PJSIP/x-1"}),
               client.send({"Action": "Hangup", "Channel": "PJSIP/x-1"})]
    await until(lambda: len(asterisk.conn.actions) == 5, "four actions on the wire")
    asterisk.conn.drop()
    for f in futures:
        with pytest.raises(AmiNotReady):
            await asyncio.wait_for(f, 5)
    await until(lambda: client.ready and len(asterisk.conns) == 2, "reconnected")
    ping = await client.request({"Action": "Ping"}, timeout=5)  # a round trip after FullyBooted
    assert ping[0]["Response"] == "Success"
    assert [a["Action"] for a in asterisk.conns[1].actions] == ["Login", "Ping"]
    client.stop()


@pytest.mark.asyncio
async def test_half_open_connection_is_dropped_when_a_request_times_out(asterisk: FakeAsterisk) -> None:
    client, _ = await connected(asterisk)
    asterisk.silent.add("confbridgelistrooms")
    with pytest.raises(AmiNotReady, match="timed out"):
        await client.request({"Action": "ConfbridgeListRooms"}, timeout=0.3)
    await until(lambda: asterisk.conns[0].closed.is_set(), "old connection aborted")
    await until(lambda: client.ready and len(asterisk.conns) == 2, "reconnected")
    client.stop()


@pytest.mark.asyncio
async def test_a_raising_event_handler_keeps_the_connection(asterisk: FakeAsterisk) -> None:
    rec = Recorder()
    rec.raise_on.add("Hangup")
    client, _ = await connected(asterisk, rec)
    asterisk.conn.send(wire({"Event": "Hangup", "Uniqueid": "x"}) + wire({"Event": "Newchannel", "Uniqueid": "y"}))
    await until(lambda: rec.events, "next event delivered")
    assert rec.events[0]["Uniqueid"] == "y" and client.connects == 1 and client.ready
    client.stop()


@pytest.mark.asyncio
async def test_shutdown_event_means_not_ready_until_booted_again(asterisk: FakeAsterisk) -> None:
    client, rec = await connected(asterisk)
    asterisk.conn.send(wire({"Event": "Shutdown", "Shutdown": "Cleanly", "Restart": "True"}))
    await until(lambda: rec.ready[-1:] == [False], "not ready after Shutdown")
    asterisk.conn.drop()
    await until(lambda: client.ready and len(asterisk.conns) >= 2, "ready on the new connection")
    client.stop()


@pytest.mark.asyncio
async def test_stop_cancels_the_reconnect(asterisk: FakeAsterisk) -> None:
    client, _ = await connected(asterisk)
    client.stop()
    await until(lambda: asterisk.conns[0].closed.is_set(), "closed")
    await asyncio.sleep(0.3)  # observation window: several back-off periods
    assert len(asterisk.conns) == 1


@pytest.mark.asyncio
async def test_list_action_is_normalised_and_conference_errors_mean_empty(asterisk: FakeAsterisk) -> None:
    client, _ = await connected(asterisk)
    asterisk.silent.update({"confbridgelist", "coreshowchannels"})
    task = asyncio.ensure_future(client.list_events({"Action": "ConfbridgeList", "Conference": "5"}, "ConfbridgeList"))
    await until(lambda: "confbridgelist" in asterisk.all_actions(), "list asked")
    action_id = asterisk.conn.actions[-1]["ActionID"]
    asterisk.conn.send({"Response": "Error", "ActionID": action_id, "Message": "No Conference by that name found."})
    assert await asyncio.wait_for(task, 5) == []
    task = asyncio.ensure_future(client.list_events({"Action": "CoreShowChannels"}, "CoreShowChannel"))
    await until(lambda: asterisk.all_actions().count("coreshowchannels") == 1, "channels asked")
    action_id = asterisk.conn.actions[-1]["ActionID"]
    asterisk.conn.send(
        wire({"Response": "Success", "ActionID": action_id, "EventList": "start", "Message": "Channels will follow"})
        + wire({"Event": "CoreShowChannel", "ActionID": action_id, "Uniqueid": "conflink-1-a", "Channel": "PJSIP/a"})
        + wire({"Event": "CoreShowChannelsComplete", "ActionID": action_id, "EventList": "Complete",
                "ListItems": "1"}))
    items = await asyncio.wait_for(task, 5)
    assert [i["Uniqueid"] for i in items] == ["conflink-1-a"]
    client.stop()


@pytest.mark.parametrize("name", ["cycle_answered", "busy_486", "notfound_404"])
@pytest.mark.asyncio
async def test_recorded_streams_parse_to_the_recorded_events(asterisk: FakeAsterisk, name: str) -> None:
    """A raw stream recorded from the lab (tests/lab/record_ami.py), cut at random points,
    comes out of the protocol as the events of its replay fixture, in order."""
    client, rec = await connected(asterisk)
    events = json.loads((FIXTURES / f"ami_{name}.json").read_text())
    raw = (FIXTURES / "raw" / f"{name}.ami").read_bytes()
    assert raw.count(b"\r\n\r\n") >= len(events)
    rng = random.Random(name)
    cuts = sorted(rng.sample(range(1, len(raw)), 40))
    for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        asterisk.conn.send(raw[a:b])
        await asyncio.sleep(0)  # let each piece arrive on its own
    last = events[-1]
    await until(lambda: any(e.get("Event") == last["Event"] and e.get("Uniqueid") == last.get("Uniqueid")
                            for e in rec.events), "the stream's last cycle event")
    # panoramisk's Message adds the text after the headers as "content" (none here)
    got = [{k: v for k, v in e.items() if not (k == "content" and v == "")} for e in rec.events]
    assert [e for e in got if e in events] == events
    client.stop()

"""Scenario 2: the AMI connection is cut (through a TCP proxy between worker and Asterisk).

- right after the Originate left the worker and before Asterisk's answer came back;
- with the Originate lost on the wire (never reached Asterisk);
- while idle (one room with a live call, one empty room);
- while internals leave or join during the gap.
Each time: exactly the calls the rooms need, none twice, none dropped wrongly.
"""

from __future__ import annotations

import time

from conftest import Env, record
from lab import observe
from tcpproxy import AmiCutProxy

ROOM_A = "720001"
ROOM_B = "720002"


def _start(env: Env, proxy: AmiCutProxy, links: list[dict]) -> None:
    env.write_config(links, ami_port=proxy.port)
    env.start_worker()
    assert proxy.accepted == 1, f"worker made {proxy.accepted} AMI connections at start"


def _wait_reconnected(env: Env, proxy: AmiCutProxy, n: int, timeout: float = 10.0) -> float:
    t0 = time.monotonic()
    proxy.wait_connections(n, timeout)
    env.wait_ready(timeout)
    return time.monotonic() - t0


def test_cut_after_originate_sent_before_response(env: Env, proxy: AmiCutProxy) -> None:
    sipp = env.lab.sipp("answer-and-hold")
    _start(env, proxy, [{"id": "a", "room": ROOM_A, "number": "300", "dtmf_delay": 0, "ring_timeout": 30}])
    proxy.cut_on(b"Action: Originate", forward=True)
    mark = env.lab.a.mark()
    h = env.lab.join(ROOM_A)
    cut = proxy.wait_cut(10)
    assert cut["forwarded"] is True
    reconnect_s = _wait_reconnected(env, proxy, 2)
    ext = env.wait_ext_join(mark, room=ROOM_A, timeout=15)
    lk = env.wait_link("a", lambda lk: lk["state"] == "connected", 10, "connected")
    observe(3.0, "room for a wrong second dial to show up")
    invites = len(sipp.invites())
    chans = env.lab.conflink_channels()
    lk = env.link("a")
    record("ami_cut", "after_originate: INVITEs", invites)
    record("ami_cut", "after_originate: reconnect_s", round(reconnect_s, 2))
    record("ami_cut", "after_originate: AMI connections", proxy.accepted)
    assert invites == 1, f"{invites} INVITEs after a cut between Originate and its response\n{env.dump()}"
    assert len(chans) == 1 and chans[0]["Uniqueid"] == ext["Uniqueid"]
    assert lk["external_call_id"] == ext["Uniqueid"] and lk["external_joined"] is True
    assert lk["attempts"] == 1, lk
    proxy_text = bytes(proxy.client_bytes).decode(errors="replace")
    record("ami_cut", "after_originate: Originates on the wire", proxy_text.count("Action: Originate"))
    assert proxy_text.count("Action: Originate") == 1, "the Originate was re-sent after the reconnect"
    env.lab.leave(h)
    env.wait_no_conflink_channels(10)
    assert len(sipp.invites()) == 1
    env.assert_no_lone()


def test_cut_with_originate_lost_on_the_wire(env: Env, proxy: AmiCutProxy) -> None:
    """The Originate never reached Asterisk: after the reconnect the resync must see that no call
    exists and dial, instead of waiting for a call that will never come."""
    sipp = env.lab.sipp("answer-and-hold")
    _start(env, proxy, [{"id": "a", "room": ROOM_A, "number": "301", "dtmf_delay": 0, "ring_timeout": 30}])
    proxy.cut_on(b"Action: Originate", forward=False)
    mark = env.lab.a.mark()
    h = env.lab.join(ROOM_A)
    cut = proxy.wait_cut(10)
    assert cut["forwarded"] is False
    _wait_reconnected(env, proxy, 2)
    t_cut = float(cut["t"])
    limit = 10.0
    try:
        ext = env.wait_ext_join(mark, room=ROOM_A, timeout=limit)
        delay = float(ext["_t"]) - t_cut
    except Exception:
        delay = None
    record("ami_cut", "originate_lost: seconds from cut to external join", None if delay is None else round(delay, 2))
    record("ami_cut", "originate_lost: INVITEs within limit", len(sipp.invites()))
    assert delay is not None, (
        f"no external call within {limit} s of a cut that lost the Originate; status "
        f"{env.link('a')}\n{env.worker.log()[-2500:] if env.worker else ''}"
    )
    assert len(sipp.invites()) == 1
    env.lab.leave(h)
    env.wait_no_conflink_channels(10)
    env.assert_no_lone()


def test_cut_while_idle_keeps_calls_and_makes_none(env: Env, proxy: AmiCutProxy) -> None:
    sipp = env.lab.sipp("answer-and-hold")
    _start(env, proxy, [
        {"id": "a", "room": ROOM_A, "number": "302", "dtmf_delay": 0},
        {"id": "b", "room": ROOM_B, "number": "303", "dtmf_delay": 0},
    ])
    mark = env.lab.a.mark()
    h = env.lab.join(ROOM_A)
    ext = env.wait_ext_join(mark, room=ROOM_A, timeout=10)
    env.wait_link("a", lambda lk: lk["state"] == "connected", 10, "connected")
    resyncs0 = env.status()["counters"]["resyncs"]
    cuts = 3
    reconnects = []
    for i in range(cuts):
        assert proxy.cut(f"idle cut {i}") == 1
        reconnects.append(_wait_reconnected(env, proxy, 2 + i))
        observe(0.5, "the connection idles between cuts")
    observe(2.0, "a dial caused by the cuts would show up")
    st = env.status()
    a = next(lk for lk in st["links"] if lk["id"] == "a")
    b = next(lk for lk in st["links"] if lk["id"] == "b")
    invites, byes = len(sipp.invites()), len(sipp.byes("in"))
    record("ami_cut", "idle: cuts", cuts)
    record("ami_cut", "idle: reconnect_s_max", round(max(reconnects), 2))
    record("ami_cut", "idle: resyncs after cuts", st["counters"]["resyncs"] - resyncs0)
    record("ami_cut", "idle: INVITEs / BYEs", [invites, byes])
    assert st["counters"]["resyncs"] - resyncs0 >= cuts, "no resync after each reconnect"
    assert invites == 1 and byes == 0, f"{invites} INVITE(s), {byes} BYE(s) from Asterisk across idle cuts"
    assert a["state"] == "connected" and a["external_call_id"] == ext["Uniqueid"], a
    assert a["internal_participants"] == 1 and a["attempts"] == 1, a
    assert b["state"] == "idle" and b["external_call_id"] is None and b["attempts"] == 0, b
    env.lab.leave(h)
    env.wait_no_conflink_channels(10)
    env.assert_no_lone()


def test_leave_and_join_during_the_gap(env: Env, proxy: AmiCutProxy) -> None:
    """Room A empties while AMI is down → its call is hung up after the resync; room B fills
    while AMI is down → it gets exactly one call after the resync."""
    sipp = env.lab.sipp("answer-and-hold")
    _start(env, proxy, [
        {"id": "a", "room": ROOM_A, "number": "304", "dtmf_delay": 0},
        {"id": "b", "room": ROOM_B, "number": "305", "dtmf_delay": 0},
    ])
    mark = env.lab.a.mark()
    ha = env.lab.join(ROOM_A)
    env.wait_ext_join(mark, room=ROOM_A, timeout=10)
    env.wait_link("a", lambda lk: lk["state"] == "connected", 10, "connected")
    proxy.refuse(True)  # AMI stays down while the rooms change
    proxy.cut("gap")
    t_cut = time.time()
    hb = env.lab.join(ROOM_B)
    t_leave = env.lab.leave(ha)
    proxy.refuse(False)
    _wait_reconnected(env, proxy, 2, timeout=15)
    ext_b = env.wait_ext_join(mark, room=ROOM_B, timeout=10)
    env.wait_link("a", lambda lk: lk["state"] == "idle" and lk["external_call_id"] is None, 10, "idle")
    gone = time.time() - t_cut
    # While AMI is down nobody can hang up: the lone-call limit of room A counts from the moment
    # the worker is connected again (the outage after the leave is added to it).
    t_back = proxy.accept_times[1]
    env.lone_limit_extra[ROOM_A] = max(0.0, t_back - t_leave)
    record("ami_cut", "gap: AMI outage after the leave (s)", round(max(0.0, t_back - t_leave), 2))
    assert hb.join_t < t_back and t_leave < t_back, "the room changes did not happen during the outage"
    observe(2.0, "a wrong dial or a lone call after the outage would show up")
    chans = env.lab.conflink_channels()
    record("ami_cut", "gap: INVITEs (2 expected)", len(sipp.invites()))
    record("ami_cut", "gap: seconds from cut to lone call gone", round(gone, 2))
    assert len(sipp.invites()) == 2, f"{len(sipp.invites())} INVITEs\n{env.dump()}"
    assert [c["Uniqueid"] for c in chans] == [ext_b["Uniqueid"]], chans
    env.lab.leave(hb)
    env.wait_no_conflink_channels(10)
    env.assert_no_lone()

"""Events can be missed: the periodic reconcile (one ConfbridgeListRooms) is the safety net.

The AMI proxy keeps chosen events from the worker while the connection stays up, so nothing
but the reconcile can tell the worker what happened. The worker runs with a 2 s reconcile
interval here (60 s in production)."""

from __future__ import annotations

import time

from conftest import Env, record
from lab import observe
from tcpproxy import AmiCutProxy

ROOM = "354233"
INTERVAL = 2.0


def test_reconcile_recovers_a_missed_join_and_a_missed_leave(env: Env, proxy: AmiCutProxy) -> None:
    sipp = env.lab.sipp("answer-and-hold")
    env.write_config([{"id": "a", "room": ROOM, "number": "500", "dtmf_delay": 0}], ami_port=proxy.port)
    env.start_worker(extra_args=("--reconcile-interval", str(INTERVAL)))

    proxy.drop_events(b"Event: ConfbridgeJoin")
    h = env.lab.join(ROOM)
    t_join = time.time()
    invite = sipp.wait_for(sipp.invites, 1, timeout=INTERVAL * 3)[0]
    join_late = invite.t - t_join
    assert any(b"labjoin-" in m for m in proxy.dropped), "the internal join was not kept from the worker"
    assert 0.2 < join_late < INTERVAL + 2.0, f"missed join found after {join_late:.1f} s"
    proxy.drop_events(None)
    env.wait_link("a", lambda lk: lk["state"] == "connected", 10, "connected")

    # Deliberately blind to the leave: the call may stay alone until the next reconcile.
    env.lone_limit_extra[ROOM] = INTERVAL
    proxy.drop_events(b"Event: ConfbridgeLeave")
    t_leave = env.lab.leave(h)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=INTERVAL * 3)[0]
    leave_late = bye.t - t_leave
    assert 0.2 < leave_late < INTERVAL + 2.0, f"missed leave found after {leave_late:.1f} s"
    proxy.drop_events(None)
    observe(1.0, "a redial after the recovered leave would show up")
    assert len(sipp.invites()) == 1 and env.lab.conflink_channels() == []
    assert proxy.accepted == 1, "the reconcile must not need a reconnect"
    st = env.status()
    assert st["counters"]["reconciles"] >= 2 and st["counters"]["resyncs"] >= 3
    record("missed_events", "missed join: join → INVITE s", round(join_late, 2))
    record("missed_events", "missed leave: leave → BYE s", round(leave_late, 2))

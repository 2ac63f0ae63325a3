"""Scenario 3 (Asterisk restarted mid-meeting) and scenario 4 (worker SIGKILLed and restarted).

An Asterisk restart drops every call, internal and external: the worker must reconnect, resync
after FullyBooted and dial exactly once when internals are back. A killed worker must adopt the
call it left behind (in the room or still ringing) instead of dialling a second one.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from conftest import Env, record
from lab import observe

FAULTS = Path(__file__).resolve().parent
ROOM = "730001"
CYCLES = 3


def test_asterisk_restart_mid_meeting(env: Env) -> None:
    sipp = env.lab.sipp("answer-and-hold")
    env.write_config([{"id": "r", "room": ROOM, "number": "400", "dtmf_delay": 0, "linger": 0}])
    env.start_worker()
    mark = env.lab.a.mark()
    h = env.lab.join(ROOM)
    env.wait_ext_join(mark, room=ROOM, timeout=10)
    downs, readies, redials = [], [], []
    for cycle in range(CYCLES):
        invites_before = len(sipp.invites())
        connects_before = env.status()["ami"]["connects"]
        t = env.restart_asterisk()
        downs.append(t["down_s"])
        # internals are back at once: races the worker's reconnect and resync on purpose
        mark = env.lab.a.mark()
        h = env.lab.join(ROOM)
        t_join = h.join_t
        ext = env.wait_ext_join(mark, room=ROOM, timeout=15)
        redials.append(float(ext["_t"]) - t_join)
        st = env.status()
        readies.append(st["ami"]["connects"] - connects_before)
        assert st["ami"]["ready"], st["ami"]
        observe(2.0, "a second call would show up here")
        new_invites = len(sipp.invites()) - invites_before
        chans = env.lab.conflink_channels()
        assert new_invites == 1, f"restart {cycle}: {new_invites} INVITEs after internals came back\n{env.dump()}"
        assert [c["Uniqueid"] for c in chans] == [ext["Uniqueid"]], chans
        lk = env.link("r")
        assert lk["state"] == "connected" and lk["external_call_id"] == ext["Uniqueid"], lk
    # a restart while the room is empty afterwards: nothing may be dialled
    env.lab.leave(h)
    env.wait_no_conflink_channels(10)
    before = len(sipp.invites())
    env.restart_asterisk()
    env.wait_ready(15)
    observe(2.0, "a dial into the empty room after the restart would show up")
    assert len(sipp.invites()) == before, "a call was dialled for an empty room after a restart"
    assert env.link("r")["state"] == "idle"
    record("asterisk_restart", "restarts", CYCLES + 1)
    record("asterisk_restart", "asterisk_down_s_max", round(max(downs), 2))
    record("asterisk_restart", "internal_rejoin_to_external_join_s_max", round(max(redials), 2))
    record("asterisk_restart", "INVITEs (one per refill expected)", len(sipp.invites()))
    record("asterisk_restart", "refills", CYCLES + 1)
    assert len(sipp.invites()) == CYCLES + 1
    env.assert_no_lone()


def test_worker_sigkill_mid_meeting_adopts_the_call(env: Env) -> None:
    sipp = env.lab.sipp("answer-and-hold")
    env.write_config([{"id": "k", "room": ROOM, "number": "401", "dtmf_delay": 0}])
    w = env.start_worker()
    mark = env.lab.a.mark()
    h = env.lab.join(ROOM)
    ext = env.wait_ext_join(mark, room=ROOM, timeout=10)
    env.wait_link("k", lambda lk: lk["state"] == "connected", 10, "connected")
    os.kill(w.pid, signal.SIGKILL)
    w.proc.wait(timeout=5)
    observe(0.5, "the call must stay up while no worker runs")
    t0 = time.monotonic()
    env.start_worker()
    lk = env.wait_link("k", lambda lk: lk["external_call_id"] == ext["Uniqueid"] and lk["external_joined"],
                       10, "adopted")
    adopt_s = time.monotonic() - t0
    observe(3.0, "a second call next to the adopted one would show up")
    lk = env.link("k")
    invites = len(sipp.invites())
    record("worker_kill", "mid_meeting: INVITEs after restart (1 = original only)", invites)
    record("worker_kill", "mid_meeting: restart to adopted_s", round(adopt_s, 2))
    assert invites == 1, f"{invites} INVITEs: the restarted worker dialled again\n{env.dump()}"
    assert lk["state"] == "connected" and lk["external_call_id"] == ext["Uniqueid"], lk
    assert [c["Uniqueid"] for c in env.lab.conflink_channels()] == [ext["Uniqueid"]]
    # the adopted call is really under control: the last internal leaves → it is hung up
    env.lab.leave(h)
    env.wait_no_conflink_channels(10)
    assert len(sipp.byes("in")) == 1
    env.assert_no_lone()


def test_worker_sigkill_while_ringing(env: Env) -> None:
    """Killed while the provider rings: after the restart exactly one call exists; the room
    empties → the restarted worker cancels the ringing call."""
    sipp = env.lab.sipp("never-answer")
    env.write_config([{"id": "k", "room": ROOM, "number": "402", "dtmf_delay": 0, "ring_timeout": 30}])
    w = env.start_worker()
    h = env.lab.join(ROOM)
    sipp.wait_for(sipp.invites, 1, timeout=10)
    os.kill(w.pid, signal.SIGKILL)
    w.proc.wait(timeout=5)
    env.start_worker()
    lk = env.wait_link("k", lambda lk: lk["external_call_id"] is not None, 10, "adopted ringing call")
    observe(3.0, "a second call next to the adopted ringing one would show up")
    chans = env.lab.conflink_channels()
    invites = len(sipp.invites())
    lk = env.link("k")
    record("worker_kill", "ringing: conflink channels after restart", len(chans))
    record("worker_kill", "ringing: INVITEs", invites)
    assert invites == 1 and len(chans) == 1, f"{invites} INVITEs, {len(chans)} channels\n{env.dump()}"
    assert lk["external_call_id"] == chans[0]["Uniqueid"] and lk["state"] == "dialing", lk
    env.lab.leave(h)
    env.wait_no_conflink_channels(10)
    sipp.wait_for(sipp.cancels, 1, timeout=5)
    record("worker_kill", "ringing: CANCELs after the room emptied", len(sipp.cancels()))
    assert len(sipp.invites()) == 1
    env.assert_no_lone()


def test_worker_sigkill_while_ringing_then_answered(env: Env) -> None:
    """Killed while ringing, answered after the restart: the adopted call joins and is the one."""
    sipp = env.lab.sipp(str(FAULTS / "sipp" / "ring-then-answer.xml"), RING_MS=4000)
    env.write_config([{"id": "k", "room": ROOM, "number": "403", "dtmf_delay": 0, "ring_timeout": 30}])
    w = env.start_worker()
    mark = env.lab.a.mark()
    h = env.lab.join(ROOM)
    sipp.wait_for(sipp.invites, 1, timeout=10)
    os.kill(w.pid, signal.SIGKILL)
    w.proc.wait(timeout=5)
    env.start_worker()
    ext = env.wait_ext_join(mark, room=ROOM, timeout=15)
    lk = env.wait_link("k", lambda lk: lk["state"] == "connected", 10, "connected")
    observe(2.0, "a second call next to the adopted one would show up")
    lk = env.link("k")
    record("worker_kill", "ringing_then_answered: INVITEs", len(sipp.invites()))
    assert len(sipp.invites()) == 1, env.dump()
    assert lk["external_call_id"] == ext["Uniqueid"], lk
    env.lab.leave(h)
    env.wait_no_conflink_channels(10)
    env.assert_no_lone()

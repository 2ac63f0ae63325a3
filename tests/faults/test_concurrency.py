"""Scenario 1: ten internal participants enter the same room at the same instant → exactly one
external call for that room. Rooms run side by side, so 100 trials take a few rounds."""

from __future__ import annotations

import statistics
import time

from conftest import Env, record
from lab import observe, wait_until

ROOMS = 10
PARTICIPANTS = 10
TRIALS = 100
WINDOW_MS = 50.0
MAX_ROUNDS = 16
STAGGER_S = 0.15


def _rooms_empty(env: Env, timeout: float = 15.0) -> None:
    def empty() -> bool:
        resp = env.lab.a.action({"Action": "ConfbridgeListRooms"})
        return not [m for m in resp if m.get("Event") == "ConfbridgeListRooms"] and not env.lab.conflink_channels()

    wait_until(empty, timeout, "every room empty and no external call left after the round", interval=0.1)


def test_simultaneous_joins_make_one_call_per_room(env: Env) -> None:
    sipp = env.lab.sipp("answer-and-hold")
    rooms = [str(710000 + i) for i in range(ROOMS)]
    env.write_config([{"id": f"c{i}", "room": r, "number": f"20{i}", "dtmf_delay": 0, "linger": 0}
                      for i, r in enumerate(rooms)])
    env.start_worker()

    trials = qualifying = 0
    spreads: list[float] = []
    per_trial_calls: list[int] = []
    dial_latency: list[float] = []
    rounds = 0
    t_start = time.monotonic()
    while qualifying < TRIALS and rounds < MAX_ROUNDS:
        rounds += 1
        t_round = time.monotonic()
        invites_before = len(sipp.invites())
        mark = env.lab.a.mark()
        bursts = []
        for r in rooms:
            # ten Originates in one write per room; rooms STAGGER_S apart, because bursts of
            # several rooms at the same instant only measure Asterisk's own queueing
            bursts.append(env.burst_join(r, PARTICIPANTS))
            observe(STAGGER_S, "pacing: rooms a moment apart")
        for handles, start, _ in bursts:
            env.await_joins(handles, start)
        # each room's external call joins once; then give a second call every chance to show up
        for r in rooms:
            env.wait_ext_join(mark, room=r, timeout=15)
        observe(0.5, "a second call in a room would show up")
        chans = env.lab.conflink_channels()
        for (handles, _, _sent), r in zip(bursts, rooms, strict=True):
            trials += 1
            joins = [h.join_t for h in handles]
            spread = (max(joins) - min(joins)) * 1000
            spreads.append(spread)
            if spread <= WINDOW_MS:
                qualifying += 1
            calls = len(env.ext_joins(mark, room=r))
            live = len([c for c in chans if c["Uniqueid"].startswith(f"conflink-c{rooms.index(r)}-")])
            per_trial_calls.append(calls)
            assert calls == 1 and live == 1, (
                f"round {rounds} room {r}: {calls} external join(s), {live} live conflink channel(s)\n{env.dump()}"
            )
            ext = env.ext_joins(mark, room=r)[0]
            dial_latency.append(float(ext["_t"]) - min(joins))
        assert len(sipp.invites()) - invites_before == ROOMS, (
            f"round {rounds}: {len(sipp.invites()) - invites_before} INVITEs for {ROOMS} rooms"
        )
        t_a = time.monotonic()
        env.burst_leave([h for handles, _, _ in bursts for h in handles])
        _rooms_empty(env)
        print(f"round {rounds}: joins+calls {t_a - t_round:.2f} s, leave {time.monotonic() - t_a:.2f} s")

    elapsed = time.monotonic() - t_start
    invites = len(sipp.invites())
    record("concurrency", "trials", trials)
    record("concurrency", "trials_within_50ms", qualifying)
    record("concurrency", "participants_per_trial", PARTICIPANTS)
    record("concurrency", "rooms_in_parallel", ROOMS)
    record("concurrency", "external_calls_invites", invites)
    record("concurrency", "calls_per_trial_min_max", [min(per_trial_calls), max(per_trial_calls)])
    record("concurrency", "join_spread_ms_median", round(statistics.median(spreads), 1))
    record("concurrency", "join_spread_ms_max", round(max(spreads), 1))
    record("concurrency", "first_join_to_external_join_s_median", round(statistics.median(dial_latency), 3))
    record("concurrency", "seconds", round(elapsed, 1))
    assert qualifying >= TRIALS, f"only {qualifying} of {trials} trials had all joins within {WINDOW_MS} ms"
    assert invites == trials, f"{invites} INVITEs for {trials} trials"
    env.assert_no_lone()

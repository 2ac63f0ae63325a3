"""The worker asks the real Asterisk which far-end modules it loaded (IFMODULE through Getvar,
under the module's own AMI user), and a PBX without func_talkdetect never has its talking calls
hung up for "dead air"."""

from __future__ import annotations

import pytest
from e2e_support import E2E, labmod

ROOM = "354233"


def link(**kw: object) -> dict[str, object]:
    return {"id": "1", "room": ROOM, "number": "100", "dtmf": "", "retry": {"backoff": [1]}, **kw}


def test_status_names_the_far_end_modules_asterisk_loaded(e2e: E2E) -> None:
    e2e.write_config([link()])
    e2e.start_worker()
    labmod.wait_until(lambda: bool(e2e.status()["ami"]["modules"]), 10, "the module check")
    assert e2e.status()["ami"]["modules"] == {"func_talkdetect.so": "loaded", "app_waitforcond.so": "loaded"}


@pytest.mark.parametrize("e2e_skip_modules", [("func_talkdetect",)], indirect=True)
def test_without_func_talkdetect_dead_air_is_off_and_status_says_why(e2e: E2E) -> None:
    """SIPp answers and sends no sound: with func_talkdetect that is dead air after 5 s (the far-end
    suite shows it); without, nothing tells silence from talk, so the call must stay up."""
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(dead_air=5)])
    e2e.start_worker()
    labmod.wait_until(lambda: bool(e2e.status()["ami"]["modules"]), 10, "the module check")
    assert e2e.status()["ami"]["modules"]["func_talkdetect.so"] == "missing"
    mark = e2e.lab.a.mark()
    e2e.lab.join(ROOM)
    e2e.wait_ext_join(mark, ROOM, timeout=15)
    labmod.observe(8, "a dead-air hang-up 5 s after the join")
    assert sipp.byes("in") == [] and e2e.status()["links"][0]["state"] == "connected"
    assert "Asterisk has not loaded func_talkdetect.so" in e2e.workers[-1].log()

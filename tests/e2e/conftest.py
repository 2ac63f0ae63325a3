"""End-to-end fixtures: a fresh lab (Asterisk 22 + SIPp) per test and the real worker.

Run: `.venv/bin/python -m pytest tests/e2e` as root, after `tests/lab/build-root.sh`.
A missing Asterisk root, sipp, php or conflink-worker FAILS the tests (no skips).
Measured latencies go to tests/.artifacts/e2e-latency.json and the terminal summary.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ARTIFACTS, ASTERISK_VERSIONS, E2E, LATENCIES, labmod


@pytest.fixture(scope="session")
def prerequisites() -> None:
    """Fail (never skip) when the lab cannot be built."""
    labmod.check_prerequisites()
    labmod.worker_bin()
    labmod.render_join_dialplan()


@pytest.fixture
def e2e_endpoints(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """Provider endpoints of the test's lab (one SIPp each): indirect-parametrize with a count."""
    count = int(getattr(request, "param", 0))
    return tuple(f"SIP-F{i}" for i in range(count)) if count else ("SIP-TEST",)


@pytest.fixture
def e2e_dtmf_mode(request: pytest.FixtureRequest) -> str:
    """PJSIP dtmf_mode of the lab's provider endpoints: indirect-parametrize (default info)."""
    return str(getattr(request, "param", "info"))


@pytest.fixture
def e2e_language(request: pytest.FixtureRequest) -> str:
    """The lab PBX's language (asterisk.conf defaultlanguage): indirect-parametrize (default en)."""
    return str(getattr(request, "param", "en"))


@pytest.fixture
def e2e_skip_modules(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """Asterisk modules the lab PBX does not load: indirect-parametrize (default none)."""
    return tuple(getattr(request, "param", ()))


@pytest.fixture
def e2e(
    prerequisites: None, tmp_path: Path, request: pytest.FixtureRequest, e2e_endpoints: tuple[str, ...],
    e2e_dtmf_mode: str, e2e_language: str, e2e_skip_modules: tuple[str, ...],
) -> Iterator[E2E]:
    lab = labmod.Lab(name=request.node.name[:40], endpoints=e2e_endpoints,
                     dtmf_modes=dict.fromkeys(e2e_endpoints, e2e_dtmf_mode), language=e2e_language,
                     skip_modules=e2e_skip_modules)
    lab.start()
    ASTERISK_VERSIONS.add(lab.asterisk_version)
    env = E2E(lab, tmp_path, request.node.name)
    failed_stop: list[str] = []
    try:
        yield env
    finally:
        failed_stop = env.stop_all()
        print(env.dump())
        lab.stop()
    assert not failed_stop, failed_stop


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not LATENCIES and not ASTERISK_VERSIONS:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    for what in sorted({r["what"] for r in LATENCIES}):
        values = [r["ms"] for r in LATENCIES if r["what"] == what]
        summary[what] = {
            "n": len(values), "min_ms": min(values), "median_ms": statistics.median(values), "max_ms": max(values)
        }
    doc = {
        "asterisk_version": sorted(ASTERISK_VERSIONS),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "summary": summary,
        "samples": LATENCIES,
    }
    (ARTIFACTS / "e2e-latency.json").write_text(json.dumps(doc, indent=2) + "\n")
    tr = terminalreporter
    tr.write_sep("-", "conflink e2e latencies")
    tr.write_line(f"Asterisk: {', '.join(sorted(ASTERISK_VERSIONS))}")
    for what, s in summary.items():
        tr.write_line(
            f"{what:<28} n={s['n']:<3} min={s['min_ms']:8.1f} ms  median={s['median_ms']:8.1f} ms  "
            f"max={s['max_ms']:8.1f} ms"
        )
    tr.write_line(f"written to {ARTIFACTS / 'e2e-latency.json'}")

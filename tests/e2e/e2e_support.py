"""Helpers of the end-to-end suite (kept out of conftest.py so that `from e2e_support import E2E`
is unambiguous when several test folders with their own conftest.py run in one pytest call)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

LAB_DIR = Path(__file__).resolve().parent.parent / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

import lab as labmod  # noqa: E402 - needs the path above
from driver import LabDriver  # noqa: E402

REPO = labmod.REPO
ARTIFACTS = REPO / "tests" / ".artifacts"

LATENCIES: list[dict[str, Any]] = []
ASTERISK_VERSIONS: set[str] = set()


class E2E(LabDriver):
    """What an end-to-end test drives (tests/lab/driver.py), plus its latency records."""

    def __init__(self, lab: labmod.Lab, tmp: Path, test_name: str):
        super().__init__(lab, tmp, test_name)
        self.test_name = test_name

    def record(self, what: str, seconds: float, **extra: Any) -> None:
        LATENCIES.append({"test": self.test_name, "what": what, "ms": round(seconds * 1000, 1), **extra})

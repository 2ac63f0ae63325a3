"""Fixtures of the MikoPBX Core rig (see rig.py and docs/testing.md).

    def test_x(rig):            # a fresh PBX: Core's shipped DB made current by Core's code
        rig.php_json("return MikoPBX\\\\Common\\\\Models\\\\PbxSettings::getValueByKey('PBXVersion');")

A missing lab root, python3.11, or sources (no local tarballs and no network) FAILS the
tests with the reason; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rig import Rig, ensure_root


@pytest.fixture(scope="session")
def rig_root() -> str:
    """Builds (once) the cached sources and the PHP 8.4 root; the inner sources path."""
    return str(ensure_root())


@pytest.fixture
def rig(rig_root: str, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A fresh PBX session; closing it ends every process started in it."""
    session = Rig.open(name="t" + str(abs(hash(request.node.nodeid)) % 10**6))
    try:
        yield session
    finally:
        session.close()

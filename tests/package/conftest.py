"""Fixtures of the package tests: the zip built once per session, installed the way MikoPBX
installs it, and a plain CPython 3.11 of this host with a thin standard library.
The arm64 counterparts live in test_package_arm64.py; both use package_support."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from package_support import HOST_ARCH, MEASURED, REPO, Target, build_thin_home, extract_like_mikopbx, write_artifact

BUILDER = REPO / "tools" / "build_package.py"


@pytest.fixture(scope="session")
def source_meta() -> dict:
    return json.loads((REPO / "module.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def package_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, str(BUILDER), "--out-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"package build failed:\n{proc.stdout}\n{proc.stderr}"
    zips = sorted(out.glob("*.zip"))
    assert len(zips) == 1, zips
    return zips[0]


@pytest.fixture(scope="session")
def unpacked(package_zip, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("installed") / "ModuleConferenceLink"
    extract_like_mikopbx(package_zip, root)
    return root


@pytest.fixture
def unpacked_copy(unpacked, tmp_path) -> Path:
    """A private copy for tests that damage the installation."""
    copy = tmp_path / "ModuleConferenceLink"
    shutil.copytree(unpacked, copy, symlinks=True)
    return copy


def _is_311(python: str) -> bool:
    try:
        out = subprocess.run(
            [python, "-I", "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return out.stdout.strip() == "True"


@pytest.fixture(scope="session")
def plain_python() -> str:
    """A CPython 3.11 outside the test venv (the venv's packages must not be seen)."""
    candidates = [
        os.environ.get("CONFLINK_TEST_PYTHON311"),
        "/usr/bin/python3.11",
        shutil.which("python3.11"),
        getattr(sys, "_base_executable", None),
    ]
    for candidate in candidates:
        if (
            candidate
            and os.path.isfile(candidate)
            and Path(candidate).resolve() != Path(sys.executable).resolve()
            and _is_311(candidate)
        ):
            return candidate
    pytest.fail(f"no CPython 3.11 interpreter outside the venv found (tried {candidates}); set CONFLINK_TEST_PYTHON311")


@pytest.fixture(scope="session")
def host(plain_python) -> Target:
    """This machine, running the launchers with the plain CPython 3.11."""
    return Target(arch=HOST_ARCH, python=plain_python)


@pytest.fixture(scope="session")
def thin_home(host, tmp_path_factory) -> Path:
    """A PYTHONHOME with only what the interpreter needs to start: a few codecs and the
    compiled extension modules. Everything else must come from the package."""
    return build_thin_home(host, tmp_path_factory.mktemp("thin-python"))


def pytest_terminal_summary(terminalreporter) -> None:
    if not MEASURED:
        return
    path = write_artifact("package-figures.json", {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **MEASURED})
    terminalreporter.write_sep("-", "conflink package figures")
    for key, value in MEASURED.items():
        terminalreporter.write_line(f"{key:<42} {value}")
    terminalreporter.write_line(f"written to {path}")

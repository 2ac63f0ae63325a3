"""The module zip on aarch64, for real: the packaged worker and conflink-ctl run as arm64
processes (qemu-aarch64-static through binfmt_misc) in an arm64 Debian 12 root, whose Python
3.11 is made as thin as MikoPBX's (package_support.build_thin_home), against the lab's real
Asterisk 22 on this host's loopback.

The root is built once by tests/package/build-arm64-root.sh (`make arm64-root`, part of
`make test`). Nothing here is skipped: a host that cannot run arm64 binaries fails.
Figures (start time, ping latency under emulation) go to tests/.artifacts/package-figures.json.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from package_support import (
    MEASURED,
    REPO,
    RunningWorker,
    Target,
    build_thin_home,
    check_thin_self_check,
    extract_like_mikopbx,
    launcher_env,
)

sys.path.insert(0, str(REPO / "tests" / "lab"))
import lab as labmod

ROOT = Path(os.environ.get("CONFLINK_ARM64_ROOT", "/var/cache/conflink/arm64-root"))
BUILD = "tests/package/build-arm64-root.sh"
ROOM = "354233"
DTMF = "1#"
# Emulation makes every Python start take seconds; these bound waits, they are not goals.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
STALE_AFTER = 3 * 3600  # seconds; a run takes well under a minute


def _emulation_problem() -> str | None:
    """Why this host cannot run the arm64 root, or None."""
    if os.geteuid() != 0:
        return "the arm64 test needs root (chroot)"
    if not (ROOT / ".conflink-root-ready").is_file():
        return f"no arm64 root at {ROOT} (run: {BUILD}, or `make arm64-root`)"
    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not entry.is_file() or entry.read_text().splitlines()[0] != "enabled":
        return f"binfmt_misc has no enabled qemu-aarch64 entry ({entry}); run {BUILD} to register it"
    return None


@pytest.fixture(scope="module")
def arm64() -> Target:
    """The arm64 root, checked to really run arm64 code (fails, never skips)."""
    problem = _emulation_problem()
    if problem:
        pytest.fail(f"cannot run arm64 binaries: {problem}")
    target = Target(arch="aarch64", python="/usr/bin/python3.11", root=ROOT)
    probe = target.run(
        target.python, "-I", "-c", "import os, sys; print(os.uname().machine, *sys.version_info[:2])",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert probe.returncode == 0, f"the arm64 python3.11 does not run under qemu: {probe.stderr}"
    assert probe.stdout.split() == ["aarch64", "3", "11"], probe.stdout
    return target


@pytest.fixture(scope="module")
def arm64_work(arm64: Target) -> Iterator[Path]:
    """A private folder inside the root, removed afterwards (parallel runs do not collide)."""
    (ROOT / "tmp").mkdir(exist_ok=True)
    for stale in (ROOT / "tmp").glob("conflink-pkg-*"):  # left by a killed run
        if time.time() - stale.stat().st_mtime > STALE_AFTER:
            shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="conflink-pkg-", dir=ROOT / "tmp"))
    work.chmod(0o755)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def arm64_install(package_zip: Path, arm64_work: Path) -> Path:
    install = arm64_work / "ModuleConferenceLink"
    extract_like_mikopbx(package_zip, install)
    return install


@pytest.fixture(scope="module")
def arm64_env(arm64: Target, arm64_work: Path) -> dict[str, str]:
    """The launchers' environment on the thin arm64 Python."""
    home = arm64_work / "home"
    home.mkdir()
    return launcher_env(arm64, home, build_thin_home(arm64, arm64_work / "thin-python"))


@pytest.fixture(scope="module")
def lab() -> Iterator[labmod.Lab]:
    labmod.check_prerequisites()
    lab = labmod.Lab(name="package-arm64")
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


def test_self_check_on_arm64_with_a_thin_standard_library(arm64, arm64_install, arm64_env):
    t0 = time.monotonic()
    found = check_thin_self_check(arm64, arm64_install, arm64_env)
    MEASURED["arm64_self_check_s"] = round(time.monotonic() - t0, 2)
    # `import zmq` loads the compiled backend, so the aarch64 binaries themselves ran.
    assert found["zmq"].endswith("/zmq/__init__.py"), found["zmq"]


def test_worker_and_ctl_on_arm64_against_the_lab(arm64, arm64_install, arm64_env, arm64_work, lab):
    """Start on arm64 against the real AMI, answer conflink-ctl (arm64 too) on the control
    socket, dial on a join, hang up on the leave, exit 0 on SIGTERM."""
    from conflink.ctl import request  # the host's client: round trips without a Python start

    sipp = lab.sipp("answer-and-hold")
    port = labmod.free_port_block()
    endpoint, token = f"tcp://127.0.0.1:{port}", "arm64-tok"
    cfg = lab.worker_config(
        [{"id": "1", "room": ROOM, "number": "100", "dtmf": DTMF, "dtmf_delay": 0, "linger": 0}],
        control_endpoint=endpoint, token=token,
    )
    cfg["ami"]["host"] = "localhost"  # resolved inside the root: the lazy idna/getaddrinfo imports
    config = arm64_work / "conflink.yaml"
    labmod.write_yaml(config, cfg)
    worker = RunningWorker(arm64, arm64_install, config, arm64_env, arm64_work / "worker.log")
    try:
        # Start time: launch until the control socket answers, polled from the host.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if request(endpoint, {"cmd": "ping", "token": token}, 0.5).get("ok"):
                    break
            except Exception as exc:  # CtlError: not up yet
                last = exc
            worker.alive()
            assert time.monotonic() < deadline, f"no answer within {START_TIMEOUT} s ({last}):\n{worker.log()}"
            time.sleep(0.05)
        MEASURED["arm64_worker_start_to_first_answer_s"] = round(time.monotonic() - worker.started, 2)
        worker.wait_status(lambda s: s["ami"]["ready"], timeout=START_TIMEOUT, what="AMI ready")
        MEASURED["arm64_worker_start_to_ami_ready_s"] = round(time.monotonic() - worker.started, 2)

        walls = []
        for _ in range(3):
            t0 = time.monotonic()
            ping = worker.ctl("ping")
            walls.append(time.monotonic() - t0)
            assert ping.returncode == 0, ping.stdout + ping.stderr
        MEASURED["arm64_ctl_ping_wall_s"] = [round(w, 2) for w in walls]
        trips = []
        for _ in range(20):
            t0 = time.perf_counter()
            assert request(endpoint, {"cmd": "ping", "token": token}, 10)["ok"] is True
            trips.append(time.perf_counter() - t0)
        MEASURED["arm64_ping_round_trip_ms"] = {
            "median": round(statistics.median(trips) * 1000, 2), "max": round(max(trips) * 1000, 2),
        }

        h = lab.join(ROOM)
        invite = sipp.wait_for(sipp.invites, 1, timeout=30)[0]
        MEASURED["arm64_join_to_invite_ms"] = round((invite.t - h.join_t) * 1000, 1)
        assert invite.ruri_user == "100"
        sipp.wait_for(lambda: sipp.infos(invite.call_id), len(DTMF), timeout=30)
        assert sipp.digits(invite.call_id) == DTMF
        status = worker.wait_status(
            lambda s: s["links"] and s["links"][0].get("state") == "connected", timeout=30, what="link connected"
        )
        assert status["ami"]["connected"] is True
        members = {m["Uniqueid"] for m in lab.confbridge_list(ROOM)}
        assert h.uniqueid in members and any(u.startswith("conflink-1-") for u in members), members

        leave_t = lab.leave(h)
        bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=30)[0]
        assert bye.call_id == invite.call_id
        MEASURED["arm64_leave_to_bye_ms"] = round((bye.t - leave_t) * 1000, 1)
        assert len(sipp.invites()) == 1

        MEASURED["arm64_worker_stop_s"] = round(worker.stop(timeout=STOP_TIMEOUT), 2)
    finally:
        worker.kill()
        sipp.stop()


def test_broken_aarch64_libzmq_is_named_on_arm64(arm64, arm64_install, arm64_env, arm64_work):
    """A libzmq whose ELF header still says aarch64 but that cannot load: the header check of
    test_package.py cannot see it, the self-check run on arm64 names it."""
    broken = arm64_work / "broken" / "ModuleConferenceLink"
    shutil.copytree(arm64_install, broken, symlinks=True)
    for so in (broken / "python-worker/vendor/linux-aarch64/pyzmq.libs").glob("libzmq*"):
        so.write_bytes(so.read_bytes()[:64])  # the ELF header (e_machine 183) survives
    proc = arm64.run(arm64.view(broken / "bin" / "conflink-worker"), "--self-check", env=arm64_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "zmq (pyzmq, bundled in python-worker/vendor/linux-aarch64" in proc.stderr, proc.stderr

"""What the package tests share, whatever CPU the packaged launchers run on.

A ``Target`` is where the installed module runs: this host (x86_64 here), or an arm64 Debian 12
root entered with chroot, whose binaries the kernel hands to qemu-aarch64-static (binfmt_misc).
A chroot shares the host's network namespace, so a worker inside reaches the lab's AMI and its
own control socket on 127.0.0.1 like a native one. Every path given to the launchers is the
target's view of it (``Target.view``), every file the test reads is the host's (``Target.host``).

Kept out of conftest.py so that ``import package_support`` is unambiguous next to the other
suites' conftest files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / ".artifacts"
# Only what CPython needs to start (its frozen core does the rest): MikoPBX's Python is about
# this thin, so everything else the worker imports must come from the package's stdlib bundle.
THIN_CODECS = ("__init__", "aliases", "utf_8", "ascii", "latin_1")
# Standard modules that a thin Python lacks and the bundle has to provide.
BUNDLED_ON_THIN = ("asyncio", "json", "logging", "argparse", "encodings.idna", "concurrent.futures.thread")
HOST_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}.get(os.uname().machine, os.uname().machine)
# Looked up here: the launchers' PATH (given to subprocess) may not name sbin folders.
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
# Figures measured by the package tests (written to ARTIFACTS and printed by conftest).
MEASURED: dict[str, Any] = {}
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Target:
    """Where the installed module's launchers run."""

    arch: str  # the vendor folder the launcher must pick: x86_64 or aarch64
    python: str  # the interpreter, as the target sees it
    root: Path | None = None  # chroot root; None = this host

    def view(self, host_path: Path) -> str:
        """The target's name for a host path (inside the root when there is one)."""
        if self.root is None:
            return str(host_path)
        return "/" + host_path.resolve().relative_to(self.root.resolve()).as_posix()

    def host(self, inner: str) -> Path:
        """The host path of a path the target names."""
        return Path(inner) if self.root is None else self.root / inner.lstrip("/")

    def argv(self, *args: str) -> list[str]:
        # chroot(8) execs the command: the PID we get is the launcher's, then Python's.
        return ([CHROOT, str(self.root)] if self.root is not None else []) + list(args)

    def run(self, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), env=env, cwd="/", capture_output=True, text=True, timeout=timeout, check=False
        )

    def popen(self, *args: str, env: dict[str, str], log: IO[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args), env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )


# --------------------------------------------------------------------------- installing


def extract_like_mikopbx(archive: Path, target: Path) -> None:
    """Entry by entry, with the checks of MikoPBX's extractor; like PHP's ZipArchive it
    keeps no Unix modes, and then the installer's fixFilesRights() makes bin/ executable."""
    target.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = info.filename
            assert ".." not in name and not name.startswith("/") and "\\" not in name, name
            assert (info.external_attr >> 16) & 0o170000 != 0o120000, f"symlink entry {name}"
            zf.extract(info, target)
    for folder in ("bin", "agi-bin"):
        for path in (target / folder).glob("*") if (target / folder).is_dir() else []:
            path.chmod(path.stat().st_mode | 0o111)


def build_thin_home(target: Target, dest: Path) -> Path:
    """A PYTHONHOME (at host path `dest`, inside the target's root) with only what the target's
    interpreter needs to start: a few codecs and its compiled extension modules."""
    probe = target.run(
        target.python, "-I", "-c", "import sysconfig, json; print(json.dumps(sysconfig.get_paths()))",
        env={"PATH": PATH, "LC_ALL": "C.UTF-8"},
    )
    assert probe.returncode == 0, f"{target.python} on {target.arch} does not run: {probe.stderr}"
    info = json.loads(probe.stdout)
    stdlib = target.host(info["stdlib"])
    lib = dest / "lib" / "python3.11"
    (lib / "encodings").mkdir(parents=True)
    for codec in THIN_CODECS:
        shutil.copy2(stdlib / "encodings" / f"{codec}.py", lib / "encodings" / f"{codec}.py")
    dynload = info["platstdlib"] + "/lib-dynload"
    assert target.host(dynload).is_dir(), dynload
    (lib / "lib-dynload").symlink_to(dynload)  # the target's own path: resolved inside the root
    return dest


def launcher_env(
    target: Target, home: Path, thin_home: Path | None = None, **extra: str
) -> dict[str, str]:
    """The environment MikoPBX's supervisor gives the launchers; nothing from this checkout's venv."""
    env = {
        "PATH": PATH,
        "HOME": target.view(home),
        "LC_ALL": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "CONFLINK_PYTHON": target.python,
    }
    if thin_home is not None:
        env["PYTHONHOME"] = target.view(thin_home)
    env.update(extra)
    return env


def origins(stdout: str) -> dict[str, str]:
    """module -> file, from the verbose self-check's "ok <module> <origin>" lines."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("ok "):
            _, name, origin = line.split(" ", 2)
            found[name] = origin
    return found


# --------------------------------------------------------------------------- checks


def check_thin_self_check(target: Target, install: Path, env: dict[str, str]) -> dict[str, str]:
    """The thin Python is really thin, and the packaged self-check passes on it with the
    bundled standard modules and this CPU's pyzmq. Returns the modules' origins."""
    bare = target.run(target.python, "-s", "-c", "import asyncio", env=env)
    assert bare.returncode != 0, "the thin Python was not thin: asyncio imported without the bundle"
    proc = target.run(target.view(install / "bin" / "conflink-worker"), "--self-check", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "conflink self-check: OK" in proc.stdout
    found = origins(proc.stdout)
    stdlib = target.view(install / "python-worker" / "stdlib") + "/"
    for name in BUNDLED_ON_THIN:
        assert found[name].startswith(stdlib), f"{name} from {found[name]}"
    vendor = target.view(install / "python-worker" / "vendor")
    assert found["zmq"].startswith(f"{vendor}/linux-{target.arch}/"), found["zmq"]
    assert found["yaml"].startswith(f"{vendor}/common/"), found["yaml"]
    return found


class RunningWorker:
    """The installed conflink-worker started on a target; stopped by its PID."""

    def __init__(self, target: Target, install: Path, config: Path, env: dict[str, str], log: Path):
        self.target, self.install, self.config, self.env, self.log_path = target, install, config, env, log
        self._log = log.open("w")
        self.started = time.monotonic()
        self.proc = target.popen(
            target.view(install / "bin" / "conflink-worker"), "--config", target.view(config), env=env, log=self._log
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The installed conflink-ctl, run on the same target as the worker."""
        ctl = self.target.view(self.install / "bin" / "conflink-ctl")
        return self.target.run(ctl, "--config", self.target.view(self.config), *args, env=self.env, timeout=timeout)

    def alive(self) -> None:
        assert self.proc.poll() is None, f"worker exited {self.proc.returncode}:\n{self.log()[-4000:]}"

    def wait_ping(self, timeout: float) -> float:
        """Poll `conflink-ctl ping` until the worker answers; returns seconds since the start."""
        deadline = time.monotonic() + timeout
        while True:
            ping = self.ctl("ping")
            if ping.returncode == 0:
                return time.monotonic() - self.started
            self.alive()
            assert time.monotonic() < deadline, f"no ping answer: {ping.stderr}\n{self.log()[-4000:]}"
            time.sleep(0.3)

    def wait_status(self, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> dict[str, Any]:
        """Poll `conflink-ctl status --json` until pred(status) holds."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while True:
            res = self.ctl("status", "--json")
            if res.returncode == 0:
                last = json.loads(res.stdout)
                assert last["ok"] is True, last
                if pred(last):
                    return last
            self.alive()
            assert time.monotonic() < deadline, f"{what} not seen within {timeout} s (status {last}):\n{self.log()}"
            time.sleep(0.3)

    def stop(self, timeout: float) -> float:
        """SIGTERM; asserts exit code 0 within `timeout`; returns the seconds it took."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"worker did not exit within {timeout} s of SIGTERM:\n{self.log()}") from None
        elapsed = time.monotonic() - t0
        self._log.close()
        assert code == 0, f"worker exit code {code} on SIGTERM:\n{self.log()}"
        assert "Traceback" not in self.log(), self.log()
        return elapsed

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._log.close()


def write_artifact(name: str, doc: dict[str, Any]) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path

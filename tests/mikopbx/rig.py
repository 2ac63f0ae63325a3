#!/usr/bin/env python3
"""The MikoPBX Core rig: the module inside MikoPBX Core's own PHP sources on phalcon/phalcon.

Three layers, each built once and reused:

1. Sources (``ensure_sources``): the repositories pinned in ``sources.lock`` (phalcon/phalcon and
   its run-time dependencies, mikopbx/Core), unpacked from the local tarballs (checked against
   their sha256) or, when those are absent, downloaded from GitHub at the pinned commits; the
   phalcon v6 patch is applied and a PSR-4 autoloader generated as Core's ``vendor/autoload.php``.
   Cached in ``/var/cache/conflink/mikopbx-rig/<key>`` (``CONFLINK_MIKOPBX_RIG_CACHE``).
2. PHP 8.4 (``ensure_root``): the lab's Debian sid root (``make lab``) plus php8.4-sqlite3,
   -mbstring, -xml, -zip and busybox (MikoPBX's killall), and the host's CPython 3.11 (the
   version MikoPBX ships) for the module's Python worker. The sources are hard-linked into the root.
3. A session (``Rig``): one PBX instance in its own mount and PID namespace, chrooted into the
   root. Its storage, ``/etc/inc/mikopbx-settings.json``, ``/etc/custom_modules``,
   ``/var/run/custom_modules`` and ``/var/run/php-workers`` are per-session folders bind-mounted
   there, so concurrent sessions never see each other's files or processes (Core's killall only
   sees the session's processes) and closing the session ends every process started in it.

Usage from Python (tests/mikopbx/conftest.py has a ``rig`` fixture)::

    with Rig.open() as rig:
        out = rig.php_code("echo MikoPBX\\Common\\Models\\PbxSettings::getValueByKey('PBXVersion');")

From a shell: ``tests/mikopbx/rig.sh php <file.php> [args]`` runs one PHP file in a fresh session
(the file is copied in; it starts with ``require 'Globals.php';`` like a Core worker).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LOCK_FILE = HERE / "sources.lock"
PATCH_FILE = HERE / "phalcon-v6.patch"
PHP_DIR = HERE / "php"

ROOT = Path(os.environ.get("CONFLINK_ASTERISK_ROOT", "/var/cache/conflink/asterisk-root"))
CACHE = Path(os.environ.get("CONFLINK_MIKOPBX_RIG_CACHE", "/var/cache/conflink/mikopbx-rig"))
VENDOR = Path(os.environ.get("CONFLINK_MIKOPBX_VENDOR", str(REPO.parent / "shared" / "vendor")))
DOWNLOAD_URL = "https://codeload.github.com/{repo}/tar.gz/{commit}"

# Inside the root. The sources go to /opt (hard links to the cache), sessions to /tmp.
ROOT_SOURCES = "/opt/conflink-mikopbx-rig"
ROOT_PYTHON = "/opt/conflink-py311"
ROOT_PACKAGES = ("php8.4-sqlite3", "php8.4-mbstring", "php8.4-xml", "php8.4-zip", "busybox", "libexpat1")
ROOT_MARKER = ".conflink-mikopbx-rig-packages"
# Core-tree folder -> session folder bound over it (see Rig.open).
CORE_SESSION_DIRS = {
    "src/AdminCabinet/Views/Modules": "core-views-modules",
    "sites/admin-cabinet/assets/js/cache": "core-js-cache",
    "sites/admin-cabinet/assets/css/cache": "core-css-cache",
    "sites/admin-cabinet/assets/img/cache": "core-img-cache",
}
# What the rig's PBX reports: the pinned Core's release line (its newest upgrade step is
# UpdateConfigsUpToVer2026187). module.json's min_pbx_version is this: the release it is tested on.
CORE_PBX_VERSION = "2026.1.87"


class RigError(RuntimeError):
    """The rig cannot be built or run; the message says what is missing."""


def log(msg: str) -> None:
    print(f"mikopbx-rig: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Pin:
    name: str
    repo: str
    commit: str
    sha256: str
    keep: tuple[str, ...]


def read_pins(path: Path = LOCK_FILE) -> list[Pin]:
    pins = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, repo, commit, sha, keep = line.split()
        pins.append(Pin(name, repo, commit, sha, tuple(keep.split(","))))
    return pins


# Bump when ensure_sources() lays the cache out differently.
CACHE_LAYOUT = "2"


def sources_key() -> str:
    h = hashlib.sha256(CACHE_LAYOUT.encode())
    for f in (LOCK_FILE, PATCH_FILE):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _extract(archive: Path, dest: Path, keep: tuple[str, ...]) -> None:
    """Unpack, dropping the single top folder, keeping only ``keep`` paths (safe names only)."""
    with tarfile.open(archive) as tf:
        for member in tf.getmembers():
            parts = Path(member.name).parts[1:]
            if not parts or ".." in parts or member.name.startswith("/"):
                continue
            rel = Path(*parts)
            if not any(rel == Path(k) or Path(k) in rel.parents for k in keep):
                continue
            if not (member.isfile() or member.isdir()):
                continue
            member.name = str(rel)
            # Names are checked above; the "data" filter also drops odd modes where Python has it
            # (3.11.4+; Debian 12's 3.11.2 has not).
            if hasattr(tarfile, "data_filter"):
                tf.extract(member, dest, filter="data")
            else:
                tf.extract(member, dest)


def _fetch_pin(pin: Pin, dest: Path, work: Path) -> str:
    local = VENDOR / f"{pin.name}.tar.xz"
    if local.is_file():
        got = _sha256(local)
        if got != pin.sha256:
            raise RigError(f"{local}: sha256 {got} does not match sources.lock ({pin.sha256})")
        _extract(local, dest, pin.keep)
        return "local tarball"
    url = DOWNLOAD_URL.format(repo=pin.repo, commit=pin.commit)
    target = work / f"{pin.name}.tar.gz"
    try:
        with urllib.request.urlopen(url, timeout=120) as resp, target.open("wb") as out:
            shutil.copyfileobj(resp, out)
    except OSError as exc:
        raise RigError(
            f"{pin.repo}@{pin.commit}: no local tarball at {local} (set CONFLINK_MIKOPBX_VENDOR) "
            f"and the download from {url} failed: {exc}"
        ) from exc
    _extract(target, dest, pin.keep)
    return "downloaded"


def _write_autoloader(core: Path, pins: list[Pin]) -> None:
    """Core's ClassLoader requires ``vendor/autoload.php`` (composer's); this one is PSR-4 + files."""
    prefixes: list[tuple[str, str]] = []
    files: list[str] = []
    for pin in pins:
        if pin.name == "mikopbx-core":
            continue
        meta = json.loads((core / "vendor" / pin.name / "composer.json").read_text())
        auto = meta.get("autoload", {})
        for prefix, rel in auto.get("psr-4", {}).items():
            prefixes.append((prefix, f"{pin.name}/{rel.rstrip('/')}"))
        files += [f"{pin.name}/{rel}" for rel in auto.get("files", [])]
        # phalcon/volt and phalcon/phql declare their parser tables as "files" entries.
    prefixes.append(("MikoPBX\\", "../src"))
    prefixes.sort(key=lambda p: -len(p[0]))  # the longest prefix wins (Psr\Http\Message is split)
    lines = [
        "<?php",
        "// Generated by tests/mikopbx/rig.py: the rig has no composer; this maps the pinned",
        "// packages' PSR-4 prefixes (from their composer.json) and loads their 'files' entries.",
        "declare(strict_types=1);",
        "spl_autoload_register(static function (string $class): void {",
        "    static $map = [",
    ]
    lines += [f"        [{json.dumps(p)}, __DIR__ . {json.dumps('/' + d + '/')}]," for p, d in prefixes]
    lines += [
        "    ];",
        "    foreach ($map as [$prefix, $dir]) {",
        "        if (strncmp($class, $prefix, strlen($prefix)) === 0) {",
        "            $file = $dir . str_replace('\\\\', '/', substr($class, strlen($prefix))) . '.php';",
        "            if (is_file($file)) {",
        "                require $file;",
        "                return;",
        "            }",
        "        }",
        "    }",
        "});",
    ]
    lines += [f"require_once __DIR__ . {json.dumps('/' + f)};" for f in files]
    (core / "vendor" / "autoload.php").write_text("\n".join(lines) + "\n")


def ensure_sources() -> Path:
    """The unpacked, patched sources (``<cache>/<key>/core`` with ``vendor/``); built once."""
    key = sources_key()
    target = CACHE / key
    if (target / ".ready").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with _locked(CACHE / ".lock"):
        if (target / ".ready").is_file():
            return target
        t0 = time.monotonic()
        pins = read_pins()
        work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=CACHE))
        try:
            core = work / "core"
            for pin in pins:
                dest = core if pin.name == "mikopbx-core" else core / "vendor" / pin.name
                dest.mkdir(parents=True, exist_ok=True)
                how = _fetch_pin(pin, dest, work)
                log(f"{pin.repo}@{pin.commit[:10]}: {how}")
            if not (core / "src" / "Core" / "Config" / "Globals.php").is_file():
                raise RigError("mikopbx/Core sources incomplete (no src/Core/Config/Globals.php)")
            subprocess.run(
                ["patch", "-p1", "--forward", "--quiet", "-d", str(core / "vendor" / "phalcon-phalcon"),
                 "-i", str(PATCH_FILE)],
                check=True,
            )
            _write_autoloader(core, pins)
            for rel in CORE_SESSION_DIRS:
                (core / rel).mkdir(parents=True, exist_ok=True)
            (work / ".ready").write_text(json.dumps({p.repo: p.commit for p in pins}, indent=1) + "\n")
            if target.exists():
                shutil.rmtree(target)
            work.rename(target)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        log(f"sources ready in {target} ({time.monotonic() - t0:.1f} s)")
    return target


# --------------------------------------------------------------------------- the root


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _root_has_packages() -> bool:
    marker = ROOT / ROOT_MARKER
    return marker.is_file() and marker.read_text().split() == list(ROOT_PACKAGES)


def ensure_root() -> Path:
    """The lab root with the rig's packages, Python 3.11 and the sources; returns the inner sources dir."""
    if os.geteuid() != 0:
        raise RigError("the rig needs root (chroot, mount and PID namespaces)")
    if not (ROOT / ".conflink-root-ready").is_file():
        raise RigError(f"no lab root at {ROOT}: run `make lab` first (tests/lab/build-root.sh)")
    sources = ensure_sources()
    with _locked(CACHE / ".root.lock"):
        if not _root_has_packages():
            log(f"installing {' '.join(ROOT_PACKAGES)} into {ROOT}")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            inst = ["chroot", str(ROOT), "apt-get", "install", "-y", "-q", *ROOT_PACKAGES]
            if subprocess.run(inst, env=env, stdout=subprocess.DEVNULL).returncode != 0:
                subprocess.run(["chroot", str(ROOT), "apt-get", "update", "-q"], env=env, check=True,
                               stdout=subprocess.DEVNULL)
                subprocess.run(inst, env=env, check=True, stdout=subprocess.DEVNULL)
            (ROOT / ROOT_MARKER).write_text(" ".join(ROOT_PACKAGES) + "\n")
        _ensure_python(ROOT / ROOT_PYTHON.lstrip("/"))
        # debootstrap writes no /etc/hosts; without one "localhost" (Core's REST client calls
        # http://localhost:<WEBPort>) goes to DNS and every call waits for it. A PBX has one.
        hosts = ROOT / "etc" / "hosts"
        if not hosts.exists():
            hosts.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        inner = f"{ROOT_SOURCES}/{sources.name}"
        dest = ROOT / inner.lstrip("/")
        if not (dest / ".ready").is_file():
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            # Hard links: the root and the cache share a file system; copy where they do not.
            if subprocess.run(["cp", "-al", str(sources), str(dest)], stderr=subprocess.DEVNULL).returncode:
                shutil.rmtree(dest, ignore_errors=True)
                subprocess.run(["cp", "-a", str(sources), str(dest)], check=True)
    return Path(inner)


def _ensure_python(dest: Path) -> None:
    """MikoPBX runs the module's worker on CPython 3.11; Debian sid has a newer one, so the
    host's 3.11 (Debian 12) is copied into the root, where it needs only libc, libm, libz, libexpat."""
    if (dest / ".ready").is_file():
        return
    exe = "/usr/bin/python3.11"  # Debian 12's (libpython linked in), not a PATH one (pyenv's needs its .so)
    if not os.access(exe, os.X_OK):
        raise RigError(f"{exe} not found on the host (Debian 12's python3.11): install python3.11")
    lib = Path("/usr/lib/python3.11")
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(os.path.realpath(exe), dest / "bin" / "python3.11")
    os.symlink("python3.11", dest / "bin" / "python3")
    shutil.copytree(lib, dest / "lib" / "python3.11", symlinks=True,
                    ignore=shutil.ignore_patterns("test", "dist-packages", "site-packages", "__pycache__", "idlelib"))
    (dest / "lib" / "python3.11" / "site-packages").mkdir()
    (dest / ".ready").write_text(sys.version + "\n")


# --------------------------------------------------------------------------- a session


_INIT = "\n".join([
    "import os, time",
    "while True:",
    "    try:",
    "        os.wait()",
    "    except ChildProcessError:",
    "        time.sleep(0.2)",
])


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str

    def check(self, what: str = "php") -> RunResult:
        if self.returncode != 0:
            raise RigError(f"{what} failed (exit {self.returncode}):\n{self.stdout}\n{self.stderr}")
        return self


class Rig:
    """One PBX instance (see the module docstring). Paths given to ``run``/``php`` are inner paths."""

    def __init__(self, sources: Path, holder: subprocess.Popen, init_pid: int, inner: str):
        self.sources = sources  # inner path of the Core tree's parent
        self.core = f"{sources}/core"
        self.inner = inner  # the session folder, as the chroot sees it
        self.host = ROOT / inner.lstrip("/")  # the same folder from the host
        self._holder = holder
        self._init_pid = init_pid
        self.binds: dict[str, str] = {}  # inner folder -> session subfolder bind-mounted there
        self.storage = f"{inner}/storage/mikopbx"
        self.modules_dir = f"{self.storage}/custom_modules"
        self.logs_dir = f"{self.storage}/log"
        self.db_file = f"{inner}/cf/conf/mikopbx.db"
        self.asterisk_etc = f"{inner}/etc/asterisk"
        self.env = {
            "PATH": f"{inner}/bin:{ROOT_PYTHON}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            # Debian's php.ini scan dir, then the session's (include_path for Globals.php, ...).
            "PHP_INI_SCAN_DIR": f"/etc/php/8.4/cli/conf.d:{inner}/php.d",
            "CONFLINK_RIG": "1",
        }

    # ---- lifecycle

    @classmethod
    def open(cls, name: str = "rig", killall: str = "busybox") -> Rig:
        """killall="busybox" (MikoPBX's) or "none" (finds nothing: proves the module's own stop path)."""
        sources = ensure_root()
        inner = f"/tmp/conflink-{name}-{os.getpid()}-{time.monotonic_ns() % 10**9}"
        host = ROOT / inner.lstrip("/")
        _make_session_tree(host, inner, f"{sources}/core", killall)
        binds = {
            "etc/inc": "etc-inc",
            "etc/custom_modules": "etc-custom_modules",
            # var/run is an absolute link to /run in the root: bind onto the real folders.
            "run/custom_modules": "run-custom_modules",
            "run/php-workers": "run-php-workers",
        }
        # Folders inside the Core tree where Core's installer links a module's views and assets
        # (PbxExtensionUtils::createViewSymlinks / createAssetsSymlinks) and AssetProvider writes
        # its compiled translations. The tree is shared by every session: each gets its own.
        core_rel = f"{sources}/core".lstrip("/")
        for rel, src in CORE_SESSION_DIRS.items():
            binds[f"{core_rel}/{rel}"] = src
        script = ["set -e", "mount --make-rprivate /"]
        for target, src in binds.items():
            (host / src).mkdir(parents=True, exist_ok=True)
            (ROOT / target).mkdir(parents=True, exist_ok=True)
            script.append(f"mount --bind '{host / src}' '{ROOT / target}'")
        # PID 1 of the namespace reaps orphans (Core starts workers with nohup ... &), so none is
        # left a zombie; it is the rig's Python 3.11, already in the root.
        script.append(f"exec chroot '{ROOT}' {ROOT_PYTHON}/bin/python3.11 -c '{_INIT}' conflink-rig-init")
        holder = subprocess.Popen(
            ["unshare", "--mount", "--pid", "--fork", f"--mount-proc={ROOT}/proc", "sh", "-c", "\n".join(script)],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # util-linux warns about signal masks here; harmless
            start_new_session=True,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 20
        init_pid = 0
        while time.monotonic() < deadline:
            kids = _children(holder.pid)
            if kids:
                init_pid = kids[0]
                try:
                    if os.readlink(f"/proc/{init_pid}/root") == str(ROOT) and \
                            b"conflink-rig-init" in Path(f"/proc/{init_pid}/cmdline").read_bytes():
                        break
                except OSError:
                    pass
            if holder.poll() is not None:
                raise RigError(f"the rig's namespace did not start (exit {holder.returncode})")
            time.sleep(0.05)
        else:
            holder.kill()
            raise RigError("the rig's namespace did not come up within 20 s")
        rig = cls(Path(sources), holder, init_pid, inner)
        rig.binds = {"/" + t: src for t, src in binds.items()}
        try:
            rig.php_file(f"{inner}/rig/setup-pbx.php", CORE_PBX_VERSION).check("setup-pbx.php")
        except BaseException:
            rig.close()
            raise
        return rig

    def close(self) -> None:
        """Ends every process of the session (PID 1 of its namespace goes) and removes its files."""
        if self._holder.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._init_pid, signal.SIGKILL)
            try:
                self._holder.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._holder.pid, signal.SIGKILL)
                self._holder.wait(timeout=10)
        if os.environ.get("CONFLINK_RIG_KEEP"):
            log(f"kept {self.host}")
            return
        for _ in range(3):
            shutil.rmtree(self.host, ignore_errors=True)
            if not self.host.exists():
                return
            time.sleep(0.5)  # a process of the session was still writing as it ended
        log(f"could not remove {self.host}")

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- running things inside

    def run(self, argv: list[str], env: dict[str, str] | None = None, timeout: float = 120,
            input: str | None = None) -> RunResult:
        full_env = dict(self.env, **(env or {}))
        cmd = ["nsenter", "-t", str(self._init_pid), "--mount", "--pid", "--root", "--wd",
               "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in full_env.items()],
               "/bin/sh", "-c", 'cd / && exec "$@"', "sh", *argv]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input, cwd=ROOT)
        return RunResult(p.returncode, p.stdout, p.stderr)

    def spawn(self, argv: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
        """Starts argv inside the session without waiting (a server, say); output goes to `log`.
        The caller stops it by its PID; closing the session ends it in any case."""
        full_env = dict(self.env, **(env or {}))
        cmd = ["nsenter", "-t", str(self._init_pid), "--mount", "--pid", "--root", "--wd",
               "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in full_env.items()],
               "/bin/sh", "-c", 'cd / && exec "$@"', "sh", *argv]
        out = open(log, "ab") if log is not None else subprocess.DEVNULL
        try:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        finally:
            if log is not None:
                out.close()

    def php_file(self, inner_path: str, *args: str, **kw) -> RunResult:
        return self.run(["php", "-f", inner_path, "--", *args], **kw)

    def php_code(self, code: str, *args: str, **kw) -> RunResult:
        """Runs PHP code after the rig's bootstrap (Core's ClassLoader + DI), like a Core worker."""
        script = self.host / "scripts" / f"s{time.monotonic_ns()}.php"
        head = "<?php\ndeclare(strict_types=1);\nrequire_once 'Globals.php';\n"
        script.write_text(head + code + "\n")
        try:
            return self.php_file(f"{self.inner}/scripts/{script.name}", *args, **kw)
        finally:
            script.unlink(missing_ok=True)

    def php_json(self, code: str, *args: str, **kw) -> object:
        """Runs code whose value is returned with ``return …;``; gives back that value (JSON)."""
        wrapped = "$__v = (function () use ($argv) {\n" + code + "\n})();\n" \
                  "fwrite(STDOUT, \"\\n@@RIG-JSON@@\" . json_encode($__v, JSON_UNESCAPED_SLASHES));\n"
        res = self.php_code(wrapped, *args, **kw)
        if res.returncode != 0 or "@@RIG-JSON@@" not in res.stdout:
            raise RigError(f"php failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}")
        head, _, tail = res.stdout.rpartition("@@RIG-JSON@@")
        self.last_output = head + res.stderr
        return json.loads(tail)

    def processes(self) -> list[tuple[int, str]]:
        """Every process of the session but its own PID 1 and the ps itself: (pid, args)."""
        out = self.run(["ps", "-eo", "pid=,args="]).check("ps").stdout
        procs = []
        for line in out.splitlines():
            pid_s, _, args = line.strip().partition(" ")
            if not pid_s.isdigit() or int(pid_s) == 1 or args.startswith("ps -eo"):
                continue
            procs.append((int(pid_s), args))
        return procs

    def path(self, inner_path: str) -> Path:
        """The host path of an inner path (bind-mounted folders map to the session's copies)."""
        p = "/" + inner_path.lstrip("/")
        if p.startswith("/var/run/"):
            p = p[len("/var"):]  # var/run is a link to /run in the root
        for target, src in self.binds.items():
            if p == target or p.startswith(target + "/"):
                return self.host / src / p[len(target):].lstrip("/")
        return ROOT / p.lstrip("/")

    # ---- the module, as an administrator handles it (php/module-admin.php: Core's REST actions)

    module_id = "ModuleConferenceLink"

    @property
    def module_dir(self) -> str:
        return f"{self.modules_dir}/{self.module_id}"

    def admin(self, action: str, *args: str, timeout: float = 180) -> dict:
        """install <zip inner path> | post-install | enable | disable | uninstall <0|1>."""
        res = self.php_file(f"{self.inner}/rig/module-admin.php", action, *args, timeout=timeout)
        lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            raise RigError(f"module-admin {action}: no result (exit {res.returncode}):\n{res.stdout}\n{res.stderr}")
        out = json.loads(lines[-1])
        out["stderr"] = res.stderr
        return out

    def upload(self, zip_path: Path) -> str:
        """Puts a module zip where an upload would leave it; returns its inner path."""
        folder = self.host / "upload" / f"u{time.monotonic_ns()}"
        folder.mkdir(parents=True)
        shutil.copy2(zip_path, folder / zip_path.name)
        return f"{self.inner}/upload/{folder.name}/{zip_path.name}"

    def fixture(self, code: str) -> object:
        """php_json with php/fixtures.php loaded (rig_add_room, rig_add_provider)."""
        return self.php_json(f"require_once '{self.inner}/rig/fixtures.php';\n" + code)

    def add_room(self, extension: str, name: str) -> dict:
        return self.fixture(f"return rig_add_room({json.dumps(extension)}, {json.dumps(name)});")

    def add_provider(self, description: str, host: str = "127.0.0.1", username: str = "far") -> str:
        return self.fixture(
            f"return rig_add_provider({json.dumps(description)}, {json.dumps(host)}, {json.dumps(username)});"
        )

    def wait_processes(self, pred, timeout: float = 30.0, what: str = "processes") -> list[tuple[int, str]]:
        """Polls processes() until pred(list) is true; fails with the last list at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            procs = self.processes()
            if pred(procs):
                return procs
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not reached within {timeout} s; processes now: {procs}")
            time.sleep(0.1)

    def jobs(self, tube: str = "MikoPBX-Core-Workers-WorkerModelsEvents") -> list[dict]:
        """Jobs waiting in a beanstalk tube (the Pheanstalk stand-in's files), oldest first."""
        folder = self.host / "beanstalk" / tube
        files = sorted(folder.glob("*.job"), key=lambda f: int(f.stem)) if folder.is_dir() else []
        out = []
        for f in files:
            raw = f.read_text()  # Core's BeanstalkClient puts serialize(<json string>)
            m = re.fullmatch(r's:\d+:"(.*)";', raw, re.DOTALL)
            out.append(json.loads(m.group(1) if m else raw))
        return out


def _make_session_tree(host: Path, inner: str, core: str, killall: str) -> None:
    for d in ("etc-inc", "etc-custom_modules", "run-custom_modules", "run-php-workers", "cf/conf",
              "var-etc", "etc/asterisk", "bin", "php.d", "include", "rig", "scripts",
              "storage/mikopbx/custom_modules", "storage/mikopbx/log", "storage/mikopbx/tmp",
              "storage/mikopbx/backup/db", "storage/mikopbx/astlogs/asterisk", "storage/mikopbx/persistence",
              "storage/mikopbx/media/sounds", "storage/mikopbx/media/custom", "storage/mikopbx/media/moh",
              "storage/mikopbx/astspool/monitor", "www/volt", "www/view", "agi-bin", "asterisk-var",
              *CORE_SESSION_DIRS.values()):
        (host / d).mkdir(parents=True, exist_ok=True)
    shipped = ROOT / core.lstrip("/") / "src/Core/System/RootFS/etc/inc/mikopbx-settings.json"
    settings = json.loads(shipped.read_text())
    st = f"{inner}/storage"

    def remap(value: object) -> object:
        if isinstance(value, dict):
            return {k: remap(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("/"):
            for old, new in (
                ("/mountpoint", st), ("/cf", f"{inner}/cf"), ("/var/etc", f"{inner}/var-etc"),
                ("/etc/asterisk", f"{inner}/etc/asterisk"), ("/var/tmp/www_cache", f"{inner}/www"),
                ("/var/lib/asterisk/agi-bin", f"{inner}/agi-bin"), ("/offload/asterisk", f"{inner}/asterisk-var"),
            ):
                if value == old or value.startswith(old + "/"):
                    return new + value[len(old):]
        return value

    settings = remap(settings)
    (host / "etc-inc" / "mikopbx-settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    shutil.copy2(ROOT / core.lstrip("/") / "resources/db/mikopbx.db", host / "cf/conf/mikopbx.db")
    for f in PHP_DIR.iterdir():
        if f.is_file():
            shutil.copy2(f, host / "rig" / f.name)
    (host / "include" / "Globals.php").write_text(
        "<?php\n// The rig's stand-in for Core's Globals.php (found through include_path, as on a PBX).\n"
        f"require_once '{inner}/rig/Globals.php';\n"
    )
    (host / "php.d" / "zz-conflink-rig.ini").write_text(
        "; The rig's PHP settings (see docs/testing.md).\n"
        f"include_path = \".:{inner}/include\"\n"
        "; Core's Util::which() searches $_ENV['PATH']: fill $_ENV so it finds busybox's killall first.\n"
        "variables_order = \"EGPCS\"\n"
        "; E_ALL but deprecations: the pinned Guzzle emits PHP 8.4 nullable-type deprecations on load.\n"
        "error_reporting = E_ALL & ~E_DEPRECATED\n"
        "display_errors = stderr\n"
        "log_errors = Off\n"
        "memory_limit = 512M\n"
    )
    (host / "rig" / "session.json").write_text(json.dumps({"core": core, "inner": inner}) + "\n")
    # MikoPBX's userland is busybox: its killall is what Core's Processes::killByName() runs.
    if killall == "busybox":
        os.symlink("/bin/busybox", host / "bin" / "killall")
    elif killall == "none":
        (host / "bin" / "killall").write_text("#!/bin/sh\n# rig: a killall that finds no process\nexit 1\n")
        (host / "bin" / "killall").chmod(0o755)
    else:
        raise RigError(f"killall must be 'busybox' or 'none', not {killall!r}")


# --------------------------------------------------------------------------- module packages


def build_module_zip(source: Path, out_dir: Path, version: str | None = None) -> Path:
    """The zip `make package` builds, from a module tree (the checkout or an old release's)."""
    builder = source / "tools" / "build_package.py"
    cmd = [sys.executable, str(builder), "--source", str(source), "--out-dir", str(out_dir)]
    if version:
        cmd += ["--version", version]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RigError(f"build_package.py in {source} failed:\n{p.stdout}\n{p.stderr}")
    zips = sorted(out_dir.glob("*.zip"))
    if len(zips) != 1:
        raise RigError(f"expected one zip in {out_dir}, found {zips}")
    return zips[0]


def build_release_zip(commit: str, out_dir: Path) -> Path:
    """An earlier release's zip, built by that commit's own tools/build_package.py from its tree."""
    tree = out_dir / "tree"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise RigError(f"git archive {commit} failed: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    dist = out_dir / "dist"
    dist.mkdir()
    return build_module_zip(tree, dist)


# --------------------------------------------------------------------------- command line


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: rig.sh setup | php <file.php> [args...] | shell-env", file=sys.stderr)
        return 2
    try:
        if argv[0] == "setup":
            print(ensure_root())
            return 0
        if argv[0] == "php" and len(argv) >= 2:
            src = Path(argv[1])
            with Rig.open("cli") as rig:
                dest = rig.host / "scripts" / src.name
                shutil.copy2(src, dest)
                res = rig.php_file(f"{rig.inner}/scripts/{src.name}", *argv[2:], timeout=600)
                sys.stdout.write(res.stdout)
                sys.stderr.write(res.stderr)
                return res.returncode
    except RigError as exc:
        log(f"ERROR: {exc}")
        return 1
    print(f"rig.sh: unknown command {argv[0]!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

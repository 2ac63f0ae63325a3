#!/usr/bin/env python3
"""Build the MikoPBX module package dist/ModuleConferenceLink-<version>.zip.

The zip root is the module root (MikoPBX reads module.json from the archive root).
Besides the PHP module it carries everything the Python worker needs on MikoPBX's
minimal Python 3.11 without pip:

  python-worker/conflink/              the worker package (no tests)
  python-worker/vendor/common/         panoramisk, PyYAML (pure Python; the C speed-up is left out)
  python-worker/vendor/linux-x86_64/   pyzmq cp311 manylinux2014 wheel, with its bundled libzmq
  python-worker/vendor/linux-aarch64/  the same for aarch64
  python-worker/stdlib/                pure-Python standard modules the worker imports (found with
                                       modulefinder in this CPython 3.11), PSF licence included

Wheels come from the package index through pip and are cached in
/var/cache/conflink/wheels (CONFLINK_WHEEL_CACHE overrides), checked against pinned sha256.

Usage: python3 tools/build_package.py [--out-dir dist] [--version X] [--offline]
"""

import argparse
import hashlib
import json
import modulefinder
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path(os.environ.get("CONFLINK_WHEEL_CACHE", "/var/cache/conflink/wheels"))
PYTHON_TAG = "3.11"
MODULE_JSON_REQUIRED = ("moduleUniqueID", "version", "min_pbx_version", "developer", "support_email")

# Top-level entries of the module tree that go into the zip. An allow-list, so that
# tests/, docs/, bench/, tools/, demo/, dist/, .venv, .git* never slip in.
MODULE_DIRS = ("App", "Lib", "Setup", "Models", "Messages", "public", "bin", "agi-bin", "sounds")
MODULE_FILES_RE = re.compile(r"^(module\.json|LICENSE(\.[A-Za-z]+)?|COPYING)$")
# Names skipped at any depth of the module tree.
SKIP_NAMES = {"__pycache__", "node_modules", "tests", "test", ".pytest_cache", ".ruff_cache", "db"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".md", ".swp", "~", ".orig", ".rej")


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel. sha256 pins the exact file, so a rebuild is reproducible."""

    name: str  # distribution name as pip wants it
    version: str
    platform: str | None  # pip --platform, None for pure-Python wheels
    sha256: str


# pyzmq 26.4.0 is the newest release with manylinux2014 (glibc 2.17) wheels for both
# x86_64 and aarch64 on the index, so it runs on any MikoPBX userland.
PYZMQ = {
    "x86_64": Wheel(
        "pyzmq", "26.4.0", "manylinux2014_x86_64",
        "4550af385b442dc2d55ab7717837812799d3674cb12f9a3aa897611839c18e9e",
    ),
    "aarch64": Wheel(
        "pyzmq", "26.4.0", "manylinux2014_aarch64",
        "e9bcae3979b2654d5289d3490742378b2f3ce804b0b5fd42036074e2bf35b030",
    ),
}
PANORAMISK = Wheel(
    "panoramisk", "1.4", None, "936bb967eb60edf860b406124f30f086713ac21f55c5e4e322941ace24430dbb"
)
# Only the pure-Python yaml/ package is taken from this wheel; yaml falls back to it
# by itself when its C extension is absent.
PYYAML = Wheel(
    "PyYAML", "6.0.4", "manylinux2014_x86_64",
    "622aa875fa6533f25fedcffe23079357d65a690d462200afed5d8e9d0e01ebee",
)

# ELF e_machine values, to prove each arch folder holds the right binaries.
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}

# Parts of vendored distributions that are never imported at run time.
VENDOR_PRUNE_DIRS = {"tests", "__pycache__", "include"}
VENDOR_PRUNE_SUFFIXES = (".pyi", ".pxd", ".pxi", ".pyx", ".h", ".c", ".pyc")
VENDOR_PRUNE_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "README.md"}

# Extra modulefinder roots: run-time imports a static scan cannot see.
EXTRA_STDLIB_ROOTS = ("runpy", "encodings.idna", "concurrent.futures.thread")
# Never worth shipping, even when some unused branch of a vendored package mentions them.
STDLIB_EXCLUDES = (
    "tkinter", "turtle", "idlelib", "test", "unittest", "pydoc", "pydoc_data", "doctest",
    "lib2to3", "ensurepip", "venv", "distutils", "setuptools", "pip", "curses", "dbm",
    "sqlite3", "xmlrpc", "http.server", "tornado", "gevent", "cython", "Cython", "IPython",
    "numpy", "pytest", "mock", "cffi", "_pytest",
    # Reached only through branches the worker never takes (archive helpers of shutil,
    # the mail/HTTP handlers of logging.handlers, process pools, package metadata,
    # macOS plist parsing in platform, the pure-Python decimal fallback).
    "importlib.metadata", "importlib.resources", "email", "http", "smtplib", "multiprocessing",
    "concurrent.futures.process", "tarfile", "zipfile", "gzip", "bz2", "lzma", "xml", "plistlib",
    "ctypes", "csv", "py_compile", "_pydecimal", "pickletools", "asyncio.windows_events",
    "asyncio.windows_utils", "asyncio.proactor_events", "_winapi", "winreg", "msvcrt", "nt",
)


class BuildError(Exception):
    pass


def log(msg: str) -> None:
    print(f"build_package: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- module.json


def read_module_json(source: Path, version_override: str | None) -> dict:
    path = source / "module.json"
    if not path.is_file():
        raise BuildError(f"{path} not found: the module tree needs module.json at its root")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BuildError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise BuildError(f"{path}: must be a JSON object")
    if version_override is not None:
        meta["version"] = version_override
    for key in MODULE_JSON_REQUIRED:
        value = meta.get(key)
        if not isinstance(value, str) or not value.strip():
            raise BuildError(f"{path}: field '{key}' must be a non-empty string (MikoPBX requires it)")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", meta["moduleUniqueID"]):
        raise BuildError(f"{path}: field 'moduleUniqueID' must be letters, digits, '_' or '-'")
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z.+_-]*", meta["version"]) or ".." in meta["version"]:
        raise BuildError(
            f"{path}: field 'version' is {meta['version']!r}, not a release version "
            "(a '%ModuleVersion%' placeholder needs --version X)"
        )
    return meta


# --------------------------------------------------------------------------- module tree


def _skip(rel: Path) -> bool:
    for part in rel.parts:
        if part in SKIP_NAMES or part.startswith(".git") or part in (".DS_Store",):
            return True
    return rel.name.endswith(SKIP_SUFFIXES)


def collect_module_tree(source: Path) -> dict[str, Path]:
    """Archive name -> source file for the PHP module part and the conflink package."""
    files: dict[str, Path] = {}
    for entry in sorted(source.iterdir()):
        if entry.is_file() and MODULE_FILES_RE.match(entry.name):
            files[entry.name] = entry
    for top in MODULE_DIRS:
        base = source / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(source)
            if path.is_file() and not path.is_symlink() and not _skip(rel):
                files[rel.as_posix()] = path
    package = source / "python-worker" / "conflink"
    if not (package / "__init__.py").is_file():
        raise BuildError(f"{package}/__init__.py not found: the worker package is missing")
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(source)
        if path.is_file() and not path.is_symlink() and not _skip(rel):
            files[rel.as_posix()] = path
    return files


# --------------------------------------------------------------------------- wheels


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached(cache: Path, wheel: Wheel) -> Path | None:
    for path in sorted(cache.glob("*.whl")):
        if _sha256_cached(path) == wheel.sha256:
            return path
    return None


_HASHES: dict[Path, str] = {}


def _sha256_cached(path: Path) -> str:
    if path not in _HASHES:
        _HASHES[path] = _sha256(path)
    return _HASHES[path]


def fetch_wheel(cache: Path, wheel: Wheel, offline: bool) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    found = _cached(cache, wheel)
    if found is not None:
        return found
    if offline:
        raise BuildError(f"{wheel.name} {wheel.version} ({wheel.platform or 'any'}) is not in {cache} (--offline)")
    cmd = [
        _pip_python(), "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--dest", str(cache), "--python-version", PYTHON_TAG, "--implementation", "cp",
    ]
    if wheel.platform:
        cmd += ["--platform", wheel.platform, "--abi", "cp311"]
    cmd.append(f"{wheel.name}=={wheel.version}")
    log(f"downloading {wheel.name} {wheel.version} ({wheel.platform or 'any'})")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"pip download failed for {wheel.name}=={wheel.version}:\n{proc.stdout}{proc.stderr}")
    _HASHES.clear()
    found = _cached(cache, wheel)
    if found is None:
        names = ", ".join(p.name for p in cache.glob(f"{_norm(wheel.name)}*") or [])
        raise BuildError(
            f"{wheel.name} {wheel.version} ({wheel.platform or 'any'}): no file in {cache} has the pinned "
            f"sha256 {wheel.sha256} (found: {names or 'nothing'})"
        )
    return found


def _pip_python() -> str:
    """An interpreter that has pip: this one, else the checkout's venv (Debian's python3
    ships without pip). pip download with --platform does not depend on which one."""
    import importlib.util

    if importlib.util.find_spec("pip") is not None:
        return sys.executable
    venv_python = REPO / ".venv" / "bin" / "python"
    if venv_python.is_file():
        return str(venv_python)
    raise BuildError("pip is not available to download wheels: run `make deps` (creates .venv) or install python3-pip")


def _vendor_keep(name: str) -> bool:
    parts = name.split("/")
    if any(p in VENDOR_PRUNE_DIRS for p in parts[:-1]):
        return False
    base = parts[-1]
    if base in VENDOR_PRUNE_FILES or base.endswith(VENDOR_PRUNE_SUFFIXES):
        return False
    return not (parts[0].endswith(".dist-info") and base in ("WHEEL", "entry_points.txt", "top_level.txt"))


def unpack_wheel(whl: Path, dest: Path, keep=lambda name: True) -> list[str]:
    """Unpack the wanted members of a wheel; returns the names written."""
    written = []
    with zipfile.ZipFile(whl) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or not _vendor_keep(name) or not keep(name):
                continue
            if name.startswith("/") or ".." in name.split("/"):
                raise BuildError(f"{whl.name}: unsafe member {name!r}")
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out)
            written.append(name)
    return written


def elf_machine(path: Path) -> int:
    with path.open("rb") as fh:
        header = fh.read(20)
    if header[:4] != b"\x7fELF":
        raise BuildError(f"{path} is not an ELF file")
    order = "little" if header[5] == 1 else "big"
    return int.from_bytes(header[18:20], order)


def build_vendor(pw: Path, cache: Path, offline: bool) -> None:
    common = pw / "vendor" / "common"
    unpack_wheel(fetch_wheel(cache, PANORAMISK, offline), common)
    # yaml/*.py and its licence only: the _yaml C extension is arch-specific and optional.
    unpack_wheel(
        fetch_wheel(cache, PYYAML, offline),
        common,
        keep=lambda n: (n.startswith("yaml/") and n.endswith(".py")) or ".dist-info/" in n,
    )
    for arch, wheel in PYZMQ.items():
        target = pw / "vendor" / f"linux-{arch}"
        unpack_wheel(fetch_wheel(cache, wheel, offline), target)
        shared = list(target.glob("zmq/backend/cython/_zmq.*.so")) + list(target.glob("pyzmq.libs/*.so*"))
        if not shared:
            raise BuildError(f"pyzmq for {arch}: no backend shared object in the wheel")
        for so in shared:
            if elf_machine(so) != ELF_MACHINE[arch]:
                raise BuildError(f"{so.name} in the {arch} wheel is not an {arch} binary")


# --------------------------------------------------------------------------- stdlib


def _load_selfcheck(package: Path):
    """Read the selfcheck's module list without importing the conflink package."""
    import importlib.util

    source = package / "selfcheck.py"
    if not source.is_file():
        raise BuildError(f"{source} not found")
    # selfcheck.py imports only sys and os, so loading it alone is safe.
    spec = importlib.util.spec_from_file_location("conflink_selfcheck_for_build", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.STDLIB_MODULES, tuple(module.THIRD_PARTY)


def build_stdlib(pw: Path) -> list[str]:
    """Copy the pure-Python standard modules the worker needs into python-worker/stdlib."""
    if sys.version_info[:2] != (3, 11):
        raise BuildError(
            f"the standard-library bundle must come from CPython 3.11 (MikoPBX's Python); "
            f"this is {sys.version.split()[0]}: run the builder with python3.11"
        )
    # In a venv "platstdlib" points into the venv, so find lib-dynload on sys.path.
    stdlib_dir = Path(sysconfig.get_paths()["stdlib"]).resolve()
    dynload = next((Path(p) for p in sys.path if p.endswith("lib-dynload")), stdlib_dir / "lib-dynload")
    package = pw / "conflink"
    # Search only the bundle and the interpreter's own stdlib: nothing from a
    # site-packages (the build venv) may leak into the analysis.
    search = [str(pw), str(pw / "vendor" / "common"), str(pw / "vendor" / "linux-x86_64"), str(stdlib_dir)]
    if dynload.is_dir():
        search.append(str(dynload))
    finder = modulefinder.ModuleFinder(path=search, excludes=list(STDLIB_EXCLUDES))
    stdlib_names, third_party = _load_selfcheck(package)

    roots = [*EXTRA_STDLIB_ROOTS, *stdlib_names, *third_party]
    roots += ["conflink." + p.stem for p in sorted(package.glob("*.py")) if p.stem != "__init__"]
    roots.append("conflink")
    for name in roots:
        try:
            finder.import_hook(name)
        except ImportError as exc:
            raise BuildError(f"modulefinder cannot find {name!r}: {exc}") from exc

    # Compiled modules (pyzmq's Cython backend) hide their imports; pyzmq ships the
    # Cython source beside the .so, so scan that source under the module's name.
    for name, mod in list(finder.modules.items()):
        file = getattr(mod, "__file__", None) or ""
        if file.endswith(".so") and str(pw) in file:
            sibling = Path(file).with_name(name.rsplit(".", 1)[-1] + ".py")
            if sibling.is_file():
                with sibling.open("rb") as fh:
                    finder.load_module(name, fh, str(sibling), (".py", "rb", modulefinder._PY_SOURCE))

    out = pw / "stdlib"
    shipped = []
    for name, mod in sorted(finder.modules.items()):
        file = getattr(mod, "__file__", None)
        if not file:
            continue  # builtin or frozen
        path = Path(file).resolve()
        if path.suffix != ".py" or stdlib_dir not in path.parents:
            continue
        rel = path.relative_to(stdlib_dir)
        if rel.parts[0] in ("site-packages", "dist-packages", "lib-dynload"):
            continue
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        shipped.append(name)
    for licence in ("LICENSE.txt", "LICENSE"):
        if (stdlib_dir / licence).is_file():
            shutil.copy2(stdlib_dir / licence, out / "LICENSE.txt")
            break
    else:
        raise BuildError(f"no PSF licence file (LICENSE.txt) in {stdlib_dir}")
    version = ".".join(map(str, sys.version_info[:3]))
    (out / "ORIGIN.txt").write_text(
        f"Pure-Python modules of the CPython {version} standard library, under the Python Software\n"
        "Foundation License (LICENSE.txt). The ConferenceLink launchers import them only where the\n"
        "system Python lacks them. Modules:\n" + "".join(f"  {n}\n" for n in shipped),
        encoding="utf-8",
    )
    return shipped


# --------------------------------------------------------------------------- zip


def check_entry_name(name: str) -> None:
    # Mirrors MikoPBX's extractor, which refuses any entry containing "..", a leading
    # "/" or a backslash.
    if ".." in name or name.startswith("/") or "\\" in name or not name:
        raise BuildError(f"archive entry {name!r} would be refused by the MikoPBX installer")


def write_zip(target: Path, entries: dict[str, Path], meta_json: bytes, epoch: float) -> None:
    stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip cannot store dates before 1980
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        def add(name: str, data: bytes, executable: bool) -> None:
            check_entry_name(name)
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode below is honoured
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            zf.writestr(info, data)

        add("module.json", meta_json, False)
        for name in sorted(entries):
            if name == "module.json":
                continue
            path = entries[name]
            executable = name.startswith(("bin/", "agi-bin/")) or bool(path.stat().st_mode & 0o111)
            add(name, path.read_bytes(), executable)
    tmp.replace(target)


def build(source: Path, out_dir: Path, cache: Path, version: str | None, offline: bool) -> Path:
    meta = read_module_json(source, version)
    module_files = collect_module_tree(source)
    with tempfile.TemporaryDirectory(prefix="conflink-pkg-") as tmp:
        stage = Path(tmp)
        pw = stage / "python-worker"
        for name, path in module_files.items():
            if name.startswith("python-worker/"):
                dest = stage / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
        build_vendor(pw, cache, offline)
        shipped = build_stdlib(pw)
        log(f"{len(shipped)} standard-library modules bundled")
        entries = dict(module_files)
        for path in sorted(pw.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                entries[path.relative_to(stage).as_posix()] = path
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{meta['moduleUniqueID']}-{meta['version']}.zip"
        meta_json = (json.dumps(meta, indent=4, ensure_ascii=False) + "\n").encode("utf-8")
        epoch = float(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
        write_zip(target, entries, meta_json, epoch)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=REPO, help="module tree (default: the checkout)")
    parser.add_argument("--out-dir", type=Path, default=None, help="where the zip goes (default: <source>/dist)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"wheel cache (default: {DEFAULT_CACHE})")
    parser.add_argument("--version", default=None, help="version to write into the packaged module.json")
    parser.add_argument("--offline", action="store_true", help="use only wheels already in the cache")
    args = parser.parse_args(argv)
    source = args.source.resolve()
    try:
        target = build(source, (args.out_dir or source / "dist").resolve(), args.cache, args.version, args.offline)
    except BuildError as exc:
        print(f"build_package: error: {exc}", file=sys.stderr)
        return 1
    size = target.stat().st_size
    with zipfile.ZipFile(target) as zf:
        count = len(zf.infolist())
    print(f"{target} ({size / 1024 / 1024:.2f} MiB, {count} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

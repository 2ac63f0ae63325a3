"""The module zip: what MikoPBX's installer needs, and a worker that runs on a bare Python 3.11.

The package is built fresh (tools/build_package.py) into a temporary folder, unpacked the
way MikoPBX unpacks it, and its launchers are run with a plain CPython 3.11 that sees none
of the build machine's site-packages: once with a complete standard library, and once with
a "thin" one (only what the interpreter needs to start, like MikoPBX's Python), where the
worker must live on the bundled python-worker/stdlib.
"""

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILDER = REPO / "tools" / "build_package.py"
MAX_ZIP_BYTES = 8 * 1024 * 1024  # the admin uploads it; MikoPBX gives the upload 120 s
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}
FORBIDDEN_PARTS = {
    "tests", "test", ".git", ".github", "__pycache__", ".venv", "node_modules",
    "dist", "docs", "bench", "tools", "demo", ".pytest_cache", ".ruff_cache",
}  # fmt: skip
HOST_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}.get(os.uname().machine, os.uname().machine)


# --------------------------------------------------------------------------- fixtures


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


def _extract_like_mikopbx(archive: Path, target: Path) -> None:
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


@pytest.fixture(scope="session")
def unpacked(package_zip, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("installed") / "ModuleConferenceLink"
    _extract_like_mikopbx(package_zip, root)
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
def thin_home(plain_python, tmp_path_factory) -> Path:
    """A PYTHONHOME with only what the interpreter needs to start: a few codecs and the
    compiled extension modules. Everything else must come from the package."""
    info = json.loads(
        subprocess.run(
            [plain_python, "-I", "-c", "import sysconfig, json; print(json.dumps(sysconfig.get_paths()))"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    )
    stdlib = Path(info["stdlib"])
    home = tmp_path_factory.mktemp("thin-python")
    lib = home / "lib" / "python3.11"
    (lib / "encodings").mkdir(parents=True)
    for codec in ("__init__", "aliases", "utf_8", "ascii", "latin_1"):
        shutil.copy2(stdlib / "encodings" / f"{codec}.py", lib / "encodings" / f"{codec}.py")
    dynload = Path(info["platstdlib"]) / "lib-dynload"
    assert dynload.is_dir(), dynload
    (lib / "lib-dynload").symlink_to(dynload)
    return home


def _env(plain_python: str, home: Path, thin_home: Path | None = None, **extra: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "LC_ALL": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "CONFLINK_PYTHON": plain_python,
    }
    if thin_home is not None:
        env["PYTHONHOME"] = str(thin_home)
    env.update(extra)
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def _origins(stdout: str) -> dict[str, str]:
    origins = {}
    for line in stdout.splitlines():
        if line.startswith("ok "):
            _, name, origin = line.split(" ", 2)
            origins[name] = origin
    return origins


# --------------------------------------------------------------------------- layout


def test_zip_is_named_after_module_json_and_small(package_zip, source_meta):
    assert package_zip.name == f"{source_meta['moduleUniqueID']}-{source_meta['version']}.zip"
    assert package_zip.stat().st_size < MAX_ZIP_BYTES, package_zip.stat().st_size


def test_module_json_at_the_archive_root(package_zip, source_meta):
    with zipfile.ZipFile(package_zip) as zf:
        meta = json.loads(zf.read("module.json"))  # MikoPBX: getFromName('module.json')
    for key in ("moduleUniqueID", "version", "min_pbx_version", "developer", "support_email"):
        assert isinstance(meta.get(key), str) and meta[key].strip(), f"module.json: {key} missing or empty"
    assert meta["moduleUniqueID"] == "ModuleConferenceLink"
    assert meta == source_meta


def test_entries_pass_the_installer_checks(package_zip):
    with zipfile.ZipFile(package_zip) as zf:
        infos = zf.infolist()
        assert zf.testzip() is None
    names = [i.filename for i in infos]
    assert len(names) == len(set(names)), "duplicate entries"
    for info in infos:
        name = info.filename
        assert ".." not in name, name  # MikoPBX refuses any entry containing ".."
        assert not name.startswith("/") and "\\" not in name, name
        assert (info.external_attr >> 16) & 0o170000 != 0o120000, f"symlink: {name}"


def test_nothing_from_the_development_tree(package_zip):
    with zipfile.ZipFile(package_zip) as zf:
        names = zf.namelist()
    for name in names:
        parts = name.split("/")
        assert not FORBIDDEN_PARTS & set(parts[:-1]), name
        assert not parts[-1].startswith(".git"), name
        assert not name.endswith((".pyc", ".pyo")), name
        assert parts[-1] != "module.db", name
        if name.endswith(".md"):
            # Only licence files of vendored distributions keep their .md name.
            assert name.startswith("python-worker/vendor/") and ".dist-info/" in name, name
    assert not any(n.startswith(("python-worker/tests/", "python-worker/pyproject")) for n in names)


def test_layout_required_by_mikopbx(unpacked):
    for rel in (
        "module.json",
        "Setup/PbxExtensionSetup.php",
        "Lib/ConferenceLinkConf.php",
        "Lib/RestAPI/Links/Controller.php",
        "App/Controllers/ModuleConferenceLinkController.php",
        "Messages/en.php",
        "bin/conflink-worker",
        "bin/conflink-ctl",
        "python-worker/conflink/__init__.py",
        "python-worker/conflink/worker.py",
        "python-worker/conflink/ctl.py",
        "python-worker/conflink/selfcheck.py",
        "python-worker/stdlib/LICENSE.txt",
        "python-worker/stdlib/ORIGIN.txt",
        "python-worker/vendor/common/panoramisk/__init__.py",
        "python-worker/vendor/common/yaml/__init__.py",
    ):
        assert (unpacked / rel).is_file(), f"{rel} missing from the package"
    assert sorted((unpacked / "Models").glob("*.php")), "Models/*.php missing"
    assert "Python Software Foundation" in (unpacked / "python-worker/stdlib/LICENSE.txt").read_text()


def test_admin_scripts_are_served_under_the_names_the_pages_load(unpacked):
    """Every script the controller adds is in the zip at the path Core serves it from
    (js/cache/<ID>/ is Core's link to public/assets/js/), byte for byte the repository's
    file: the zip and a module installed from the source tree load the same scripts."""
    controller = (REPO / "App/Controllers/ModuleConferenceLinkController.php").read_text()
    prefix = re.search(r"\$js = 'js/cache/' \. self::MODULE_ID \. '/([^']*)';", controller)
    assert prefix, "the controller's script folder under js/cache/<ID>/ not found"
    names = set(re.findall(r"->addJs\(\$js \. '([^']+)'", controller))
    names |= set(re.findall(r"addAssets\('([^']+\.js)'\)", controller))
    assert {"conference-link-rules.js", "conference-link-status.js",
            "module-conference-link-index.js", "module-conference-link-modify.js"} <= names, names
    for name in sorted(names):
        rel = f"public/assets/js/{prefix.group(1)}{name}"
        assert (REPO / rel).is_file(), f"{rel} missing from the source tree"
        assert (unpacked / rel).is_file(), f"{rel} missing from the package"
        assert (unpacked / rel).read_bytes() == (REPO / rel).read_bytes(), rel
    # One copy of each script: nothing stale under the old served names.
    assert not sorted((unpacked / "public/assets/js").glob("*.js"))


def test_launchers_are_executable_posix_scripts(package_zip, unpacked):
    with zipfile.ZipFile(package_zip) as zf:
        for name in ("bin/conflink-worker", "bin/conflink-ctl"):
            mode = (zf.getinfo(name).external_attr >> 16) & 0o777
            assert mode & 0o111 == 0o111, f"{name} is {oct(mode)} in the zip"
    for name in ("conflink-worker", "conflink-ctl"):
        path = unpacked / "bin" / name
        assert path.stat().st_mode & stat.S_IXUSR
        assert path.read_text().startswith("#!/bin/sh\n")
        dash = shutil.which("dash") or "/bin/sh"
        check = subprocess.run([dash, "-n", str(path)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr


def _elf(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not ELF"
    return header[4], int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_each_arch_has_its_own_zmq_binaries(unpacked, arch):
    vendor = unpacked / "python-worker" / "vendor" / f"linux-{arch}"
    backend = list(vendor.glob(f"zmq/backend/cython/_zmq.cpython-311-{arch}-linux-gnu.so"))
    assert backend, f"no cp311 zmq backend for {arch} in {vendor}"
    libzmq = list(vendor.glob("pyzmq.libs/libzmq*.so*"))
    assert libzmq, f"no bundled libzmq for {arch}"
    for so in backend + libzmq:
        elf_class, machine = _elf(so)
        assert elf_class == 2, f"{so.name}: not a 64-bit ELF"
        assert machine == ELF_MACHINE[arch], f"{so.name}: ELF machine {machine}, want {ELF_MACHINE[arch]} ({arch})"
    assert not list(vendor.rglob("tests")), "vendored tests were not pruned"


# --------------------------------------------------------------------------- running it


def test_self_check_passes_on_a_plain_python_with_the_bundle(unpacked, plain_python, tmp_path):
    proc = _run([str(unpacked / "bin" / "conflink-worker"), "--self-check"], _env(plain_python, tmp_path), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "conflink self-check: OK" in proc.stdout
    origins = _origins(proc.stdout)
    vendor = unpacked / "python-worker" / "vendor"
    assert origins["zmq"].startswith(str(vendor / f"linux-{HOST_ARCH}") + "/"), origins["zmq"]
    assert origins["yaml"].startswith(str(vendor / "common") + "/"), origins["yaml"]
    assert origins["panoramisk"].startswith(str(vendor / "common") + "/"), origins["panoramisk"]
    # The system's own standard library wins over the bundled copy.
    assert not origins["asyncio"].startswith(str(unpacked)), origins["asyncio"]
    for origin in origins.values():
        assert "site-packages" not in origin and ".venv" not in origin, origin


def test_self_check_passes_on_a_thin_standard_library(unpacked, plain_python, thin_home, tmp_path):
    env = _env(plain_python, tmp_path, thin_home)
    bare = _run([plain_python, "-s", "-c", "import asyncio"], env, tmp_path)
    assert bare.returncode != 0, "the thin Python was not thin: asyncio imported without the bundle"
    proc = _run([str(unpacked / "bin" / "conflink-worker"), "--self-check"], env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    origins = _origins(proc.stdout)
    stdlib = str(unpacked / "python-worker" / "stdlib") + "/"
    for name in ("asyncio", "json", "logging", "argparse", "encodings.idna", "concurrent.futures.thread"):
        assert origins[name].startswith(stdlib), f"{name} from {origins[name]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_and_ctl_run_on_a_thin_standard_library(unpacked, plain_python, thin_home, tmp_path):
    """Not just imports: the worker binds its control socket, resolves and dials AMI by host
    name (idna codec and thread-pool getaddrinfo, both lazy imports), answers ctl, and stops
    on SIGTERM."""
    ami = socket.socket()
    ami.bind(("127.0.0.1", 0))
    ami.listen(4)
    ami.settimeout(30)
    connected = threading.Event()

    def fake_ami() -> None:
        try:
            conn, _ = ami.accept()
        except OSError:
            return
        connected.set()
        conn.close()

    threading.Thread(target=fake_ami, daemon=True).start()
    control_port = _free_port()
    config = tmp_path / "conflink.yaml"
    config.write_text(
        "version: 1\n"
        f"ami: {{host: localhost, port: {ami.getsockname()[1]}, username: conflink, secret: \"s3cret\"}}\n"
        f"control: {{endpoint: \"tcp://127.0.0.1:{control_port}\", token: \"tok\"}}\n"
        "links: []\n"
    )
    env = _env(plain_python, tmp_path, thin_home)
    log = (tmp_path / "worker.log").open("w+")
    worker = subprocess.Popen(
        [str(unpacked / "bin" / "conflink-worker"), "--config", str(config)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        ctl = [str(unpacked / "bin" / "conflink-ctl"), "--config", str(config)]
        deadline = time.monotonic() + 30
        while True:
            ping = _run([*ctl, "ping"], env, tmp_path)
            if ping.returncode == 0:
                break
            assert worker.poll() is None, f"worker exited {worker.returncode}:\n{Path(log.name).read_text()}"
            assert time.monotonic() < deadline, f"no ping answer: {ping.stderr}\n{Path(log.name).read_text()}"
            time.sleep(0.3)
        status = _run([*ctl, "status", "--json"], env, tmp_path)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["ok"] is True
        assert connected.wait(30), f"the worker never dialled AMI at localhost:\n{Path(log.name).read_text()}"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0, Path(log.name).read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        ami.close()
        log.close()
    text = Path(log.name).read_text()
    assert "Traceback" not in text, text


def test_missing_vendored_package_is_named(unpacked_copy, plain_python, tmp_path):
    shutil.rmtree(unpacked_copy / "python-worker" / "vendor" / "common" / "panoramisk")
    env = _env(plain_python, tmp_path)
    proc = _run([str(unpacked_copy / "bin" / "conflink-worker"), "--self-check"], env, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "panoramisk (panoramisk, bundled in python-worker/vendor/common" in proc.stderr
    # Started for real, the worker refuses with the same report instead of a traceback.
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\n")
    run = _run([str(unpacked_copy / "bin" / "conflink-worker"), "--config", str(config)], env, tmp_path)
    assert run.returncode != 0
    assert "panoramisk" in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_missing_bundled_stdlib_module_is_named(unpacked_copy, plain_python, thin_home, tmp_path):
    (unpacked_copy / "python-worker" / "stdlib" / "heapq.py").unlink()
    env = _env(plain_python, tmp_path, thin_home)
    proc = _run([str(unpacked_copy / "bin" / "conflink-ctl"), "--self-check"], env, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "  - heapq (Python standard library, needed by " in proc.stderr


def test_missing_zmq_binary_is_named(unpacked_copy, plain_python, tmp_path):
    vendor = unpacked_copy / "python-worker" / "vendor" / f"linux-{HOST_ARCH}"
    for so in vendor.glob("pyzmq.libs/libzmq*"):
        so.unlink()
    env = _env(plain_python, tmp_path)
    proc = _run([str(unpacked_copy / "bin" / "conflink-worker"), "--self-check"], env, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "zmq (pyzmq, bundled in python-worker/vendor/linux-" in proc.stderr


def _fake_uname(tmp_path: Path, machine: str) -> str:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "uname").write_text(f"#!/bin/sh\necho {machine}\n")
    (shim / "uname").chmod(0o755)
    return f"{shim}:/usr/local/bin:/usr/bin:/bin"


def test_unsupported_cpu_is_refused_clearly(unpacked, plain_python, tmp_path):
    env = _env(plain_python, tmp_path, PATH=_fake_uname(tmp_path, "riscv64"))
    proc = _run([str(unpacked / "bin" / "conflink-ctl"), "ping"], env, tmp_path)
    assert proc.returncode == 1
    assert "unsupported CPU architecture 'riscv64'" in proc.stderr


def test_launcher_picks_the_vendor_folder_by_cpu(unpacked, plain_python, tmp_path):
    other = "aarch64" if HOST_ARCH == "x86_64" else "x86_64"
    env = _env(plain_python, tmp_path, PATH=_fake_uname(tmp_path, other))
    proc = _run([str(unpacked / "bin" / "conflink-worker"), "--self-check"], env, tmp_path)
    # The other CPU's pyzmq cannot load here: proof that the launcher chose by `uname -m`.
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"zmq (pyzmq, bundled in python-worker/vendor/linux-{other})" in proc.stderr


def test_launchers_work_in_a_development_checkout(tmp_path):
    env = dict(os.environ, CONFLINK_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    for name in ("conflink-worker", "conflink-ctl"):
        proc = _run([str(REPO / "bin" / name), "--self-check"], env, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "conflink self-check: OK" in proc.stdout

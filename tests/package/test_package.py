"""The module zip: what MikoPBX's installer needs, and a worker that runs on a bare Python 3.11.

The package is built fresh (tools/build_package.py) into a temporary folder, unpacked the
way MikoPBX unpacks it, and its launchers are run with a plain CPython 3.11 that sees none
of the build machine's site-packages: once with a complete standard library, and once with
a "thin" one (only what the interpreter needs to start, like MikoPBX's Python), where the
worker must live on the bundled python-worker/stdlib. test_package_arm64.py runs the aarch64
build the same way on an emulated arm64 Debian 12; package_support holds what both share.
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from package_support import (
    HOST_ARCH,
    MEASURED,
    REPO,
    RunningWorker,
    Target,
    check_thin_self_check,
    launcher_env,
    origins,
)

sys.path.insert(0, str(REPO / "tests" / "lab"))
from lab import free_port_block

MAX_ZIP_BYTES = 8 * 1024 * 1024  # the admin uploads it; MikoPBX gives the upload 120 s
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}
FORBIDDEN_PARTS = {
    "tests", "test", ".git", ".github", "__pycache__", ".venv", "node_modules",
    "dist", "docs", "bench", "tools", "demo", ".pytest_cache", ".ruff_cache",
}  # fmt: skip


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
    # Core would add a route for it that swaps in a dispatcher without its SecurityPlugin.
    assert not (unpacked / "App/Module.php").exists(), "App/Module.php must not be shipped"
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


def _self_check(host: Target, install: Path, env: dict[str, str], launcher: str = "conflink-worker"):
    return host.run(str(install / "bin" / launcher), "--self-check", env=env)


def test_self_check_passes_on_a_plain_python_with_the_bundle(unpacked, host, tmp_path):
    proc = _self_check(host, unpacked, launcher_env(host, tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "conflink self-check: OK" in proc.stdout
    found = origins(proc.stdout)
    vendor = unpacked / "python-worker" / "vendor"
    assert found["zmq"].startswith(str(vendor / f"linux-{HOST_ARCH}") + "/"), found["zmq"]
    assert found["yaml"].startswith(str(vendor / "common") + "/"), found["yaml"]
    assert found["panoramisk"].startswith(str(vendor / "common") + "/"), found["panoramisk"]
    # The system's own standard library wins over the bundled copy.
    assert not found["asyncio"].startswith(str(unpacked)), found["asyncio"]
    for origin in found.values():
        assert "site-packages" not in origin and ".venv" not in origin, origin


def test_self_check_passes_on_a_thin_standard_library(unpacked, host, thin_home, tmp_path):
    check_thin_self_check(host, unpacked, launcher_env(host, tmp_path, thin_home))


def test_worker_and_ctl_run_on_a_thin_standard_library(unpacked, host, thin_home, tmp_path):
    """Not just imports: the worker binds its control socket, resolves and dials AMI by host
    name (idna codec and thread-pool getaddrinfo, both lazy imports), answers ctl, and stops
    on SIGTERM. (test_package_arm64.py does the same on arm64 against a real Asterisk.)"""
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
    config = tmp_path / "conflink.yaml"
    config.write_text(
        "version: 1\n"
        f"ami: {{host: localhost, port: {ami.getsockname()[1]}, username: conflink, secret: \"s3cret\"}}\n"
        f"control: {{endpoint: \"tcp://127.0.0.1:{free_port_block()}\", token: \"tok\"}}\n"
        "links: []\n"
    )
    worker = RunningWorker(host, unpacked, config, launcher_env(host, tmp_path, thin_home), tmp_path / "worker.log")
    try:
        worker.wait_ping(timeout=30)
        t0 = time.monotonic()
        assert worker.ctl("ping").returncode == 0
        MEASURED["host_ctl_ping_wall_s"] = round(time.monotonic() - t0, 3)  # next to the arm64 figure
        worker.wait_status(lambda s: True, timeout=30, what="a status answer")
        assert connected.wait(30), f"the worker never dialled AMI at localhost:\n{worker.log()}"
        worker.stop(timeout=15)
    finally:
        worker.kill()
        ami.close()


def test_missing_vendored_package_is_named(unpacked_copy, host, tmp_path):
    shutil.rmtree(unpacked_copy / "python-worker" / "vendor" / "common" / "panoramisk")
    env = launcher_env(host, tmp_path)
    proc = _self_check(host, unpacked_copy, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "panoramisk (panoramisk, bundled in python-worker/vendor/common" in proc.stderr
    # Started for real, the worker refuses with the same report instead of a traceback.
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\n")
    run = host.run(str(unpacked_copy / "bin" / "conflink-worker"), "--config", str(config), env=env)
    assert run.returncode != 0
    assert "panoramisk" in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_missing_bundled_stdlib_module_is_named(unpacked_copy, host, thin_home, tmp_path):
    (unpacked_copy / "python-worker" / "stdlib" / "heapq.py").unlink()
    proc = _self_check(host, unpacked_copy, launcher_env(host, tmp_path, thin_home), "conflink-ctl")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "  - heapq (Python standard library, needed by " in proc.stderr


def test_missing_zmq_binary_is_named(unpacked_copy, host, tmp_path):
    vendor = unpacked_copy / "python-worker" / "vendor" / f"linux-{HOST_ARCH}"
    for so in vendor.glob("pyzmq.libs/libzmq*"):
        so.unlink()
    proc = _self_check(host, unpacked_copy, launcher_env(host, tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "zmq (pyzmq, bundled in python-worker/vendor/linux-" in proc.stderr


def _fake_uname(tmp_path: Path, machine: str) -> str:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "uname").write_text(f"#!/bin/sh\necho {machine}\n")
    (shim / "uname").chmod(0o755)
    return f"{shim}:/usr/local/bin:/usr/bin:/bin"


def test_unsupported_cpu_is_refused_clearly(unpacked, host, tmp_path):
    env = launcher_env(host, tmp_path, PATH=_fake_uname(tmp_path, "riscv64"))
    proc = host.run(str(unpacked / "bin" / "conflink-ctl"), "ping", env=env)
    assert proc.returncode == 1
    assert "unsupported CPU architecture 'riscv64'" in proc.stderr


def test_launcher_picks_the_vendor_folder_by_cpu(unpacked, host, tmp_path):
    other = "aarch64" if HOST_ARCH == "x86_64" else "x86_64"
    env = launcher_env(host, tmp_path, PATH=_fake_uname(tmp_path, other))
    proc = _self_check(host, unpacked, env)
    # The other CPU's pyzmq cannot load here: proof that the launcher chose by `uname -m`.
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"zmq (pyzmq, bundled in python-worker/vendor/linux-{other})" in proc.stderr


def test_launchers_work_in_a_development_checkout(tmp_path):
    env = dict(os.environ, CONFLINK_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    for name in ("conflink-worker", "conflink-ctl"):
        proc = subprocess.run(
            [str(REPO / "bin" / name), "--self-check"], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=60, check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "conflink self-check: OK" in proc.stdout

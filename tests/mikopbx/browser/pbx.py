"""Setting up a rig PBX for the admin-page tests: the module installed through Core's
installer (from the package zip, or copied from the source tree), a conference room and a SIP
provider saved through Core's models (the rig's fixtures), the module's AMI user and control
port pointed at a lab Asterisk.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from rig import Rig

REPO = Path(__file__).resolve().parents[3]
MODULE_ID = "ModuleConferenceLink"
ROOM = {"extension": "2200", "name": "Standup"}
PROVIDER = {"description": "Lab trunk"}
# What a module tree checked out into custom_modules holds (build_package's MODULE_DIRS).
TREE_DIRS = ("App", "Lib", "Setup", "Models", "Messages", "public", "bin")


def build_zip(out_dir: Path) -> Path:
    """The package exactly as `make package` builds it."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_package.py"), "--out-dir", str(out_dir)],
        capture_output=True, text=True, check=False, timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"build_package failed:\n{proc.stdout}\n{proc.stderr}")
    return Path(proc.stdout.strip().split(" ")[0])


def module_dir(rig: Rig) -> Path:
    return rig.path(rig.module_dir)


def copy_tree(rig: Rig) -> None:
    """The module as a developer installs it: the repository's module folders, no build step."""
    dest = module_dir(rig)
    for name in TREE_DIRS:
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(REPO / "module.json", dest / "module.json")
    shutil.copytree(REPO / "python-worker" / "conflink", dest / "python-worker" / "conflink",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def install_tree(rig: Rig) -> None:
    """Core's installModule() on a module folder already in custom_modules."""
    out = rig.php_json(
        f"$s = new Modules\\{MODULE_ID}\\Setup\\PbxExtensionSetup('{MODULE_ID}');"
        " return [$s->installModule(), $s->getMessages()];"
    )
    assert isinstance(out, list) and out[0] is True, out


def install_zip(rig: Rig, package: Path) -> None:
    """Core's install path for an uploaded zip (the rig's module-admin.php)."""
    out = rig.admin("install", rig.upload(package))
    assert out["success"], out


def add_room_and_provider(rig: Rig) -> tuple[dict[str, str], str]:
    """A conference room and an enabled SIP provider, saved through Core's models."""
    room = rig.add_room(ROOM["extension"], ROOM["name"])
    assert isinstance(room, dict)
    return room, str(rig.add_provider(PROVIDER["description"]))


def point_at_lab(rig: Rig, ami_port: int, ami_user: str, ami_secret: str, control_port: int) -> None:
    """The PBX's AMI port and the module's AMI user are the lab Asterisk's."""
    ok = rig.php_json(
        "MikoPBX\\Common\\Models\\PbxSettings::setValueByKey("
        f"MikoPBX\\Common\\Models\\PbxSettings::AMI_PORT, '{ami_port}');"
        f" $set = Modules\\{MODULE_ID}\\Models\\ConferenceLinkSettings::findFirst();"
        f" $set->ami_username = {_php_str(ami_user)}; $set->ami_secret = {_php_str(ami_secret)};"
        f" $set->control_port = '{control_port}'; return $set->save();"
    )
    assert ok is True, ok


def _php_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def enable(rig: Rig) -> None:
    """Enable through Core's EnableModuleAction (the module's enable hooks start its worker)."""
    out = rig.admin("enable")
    assert out["success"], out


def add_link(rig: Rig, room_uniqid: str, provider: str, number: str) -> None:
    """A link saved through the module's model (as the page's save does), defaults elsewhere."""
    ok = rig.php_json(
        f"$l = new Modules\\{MODULE_ID}\\Models\\ConferenceLinks(); $l->conference_uniqid = {_php_str(room_uniqid)};"
        f" $l->provider_uniqid = {_php_str(provider)}; $l->dst_number = {_php_str(number)}; return $l->save();"
    )
    assert ok is True, ok


def links(rig: Rig) -> list[dict[str, Any]]:
    rows = rig.php_json(
        "return Modules\\ModuleConferenceLink\\Models\\ConferenceLinks::find(['order' => 'id'])->toArray();"
    )
    assert isinstance(rows, list)
    return rows


def worker_pids(rig: Rig) -> list[int]:
    """The module's Python worker processes in the session."""
    return [pid for pid, args in rig.processes() if "conflink.worker" in args and "python" in args]


def wrapper_pids(rig: Rig) -> list[int]:
    """The module's PHP wrapper (supervisor) processes in the session, as Core's
    Processes::getPidOfProcess finds them (a live one makes Core's 'start' do nothing)."""
    return [pid for pid, args in rig.processes() if "WorkerConferenceLinkPy" in args]

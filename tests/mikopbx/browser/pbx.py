"""Setting up a rig PBX for the admin-page tests: the module installed through Core's
installer (from the package zip or from the source tree), a conference room and a SIP provider
saved through Core's models, the module's AMI user and control port pointed at a lab Asterisk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from rig import Rig

REPO = Path(__file__).resolve().parents[3]
MODULE_ID = "ModuleConferenceLink"
ROOM = {"uniqid": "CONFERENCE-STANDUP", "extension": "2200", "name": "Standup"}
PROVIDER = {"uniqid": "SIP-LABTRUNK", "description": "Lab trunk"}
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
    return rig.path(rig.modules_dir) / MODULE_ID


def unpack_zip(rig: Rig, package: Path) -> None:
    """Unpack as Core's installer does: the archive root becomes the module folder, modes kept."""
    dest = module_dir(rig)
    with zipfile.ZipFile(package) as zf:
        for info in zf.infolist():
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(dest / info.filename, mode)


def copy_tree(rig: Rig) -> None:
    """The module as a developer installs it: the repository's module folders, no build step."""
    dest = module_dir(rig)
    for name in TREE_DIRS:
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(REPO / "module.json", dest / "module.json")
    shutil.copytree(REPO / "python-worker" / "conflink", dest / "python-worker" / "conflink",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _php_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def install(rig: Rig, ami_port: int = 5038, ami_user: str = "", ami_secret: str = "",
            control_port: int = 0) -> dict[str, Any]:
    """Core's installModule(), a room and a provider through Core's models, then the module's
    settings row pointed at the lab; enabling is separate (enable())."""
    settings = ""
    if ami_user:
        settings = (
            "$set = Modules\\ModuleConferenceLink\\Models\\ConferenceLinkSettings::findFirst();"
            f" $set->ami_username = {_php_str(ami_user)}; $set->ami_secret = {_php_str(ami_secret)};"
            f" $set->control_port = '{control_port}'; $out['settings'] = $set->save();"
        )
    code = f"""
        \\MikoPBX\\Common\\Models\\PbxSettings::setValueByKey(\\MikoPBX\\Common\\Models\\PbxSettings::AMI_PORT, '{ami_port}');
        $setup = new Modules\\ModuleConferenceLink\\Setup\\PbxExtensionSetup('{MODULE_ID}');
        $out = ['install' => $setup->installModule(), 'messages' => $setup->getMessages()];
        {settings}
        $ext = new \\MikoPBX\\Common\\Models\\Extensions();
        $ext->number = '{ROOM['extension']}'; $ext->type = \\MikoPBX\\Common\\Models\\Extensions::TYPE_CONFERENCE;
        $ext->callerid = '{ROOM['name']}'; $ext->public_access = '0'; $ext->show_in_phonebook = '1';
        $room = new \\MikoPBX\\Common\\Models\\ConferenceRooms();
        $room->uniqid = '{ROOM['uniqid']}'; $room->extension = '{ROOM['extension']}'; $room->name = '{ROOM['name']}';
        $provider = new \\MikoPBX\\Common\\Models\\Providers();
        $provider->uniqid = '{PROVIDER['uniqid']}'; $provider->type = 'SIP'; $provider->sipuid = '{PROVIDER['uniqid']}';
        $provider->note = '';
        $sip = new \\MikoPBX\\Common\\Models\\Sip();
        $sip->uniqid = '{PROVIDER['uniqid']}'; $sip->type = 'friend'; $sip->description = '{PROVIDER['description']}';
        $sip->host = '127.0.0.1'; $sip->username = 'lab'; $sip->registration_type = 'none'; $sip->disabled = '0';
        $out['saved'] = [$ext->save(), $room->save(), $provider->save(), $sip->save()];
        $out['errors'] = array_map('strval', array_merge($ext->getMessages(), $room->getMessages(),
            $provider->getMessages(), $sip->getMessages()));
        return $out;
    """
    out = rig.php_json(code)
    assert isinstance(out, dict)
    if out["install"] is not True or out["saved"] != [True, True, True, True] or out.get("settings") is False:
        raise RuntimeError(f"installing the module / saving the room and provider failed: {out}")
    return out


def enable(rig: Rig) -> None:
    """Enable through Core's PbxExtensionState (the module's enable hooks start its worker)."""
    ok = rig.php_json(
        f"$s = new MikoPBX\\Modules\\PbxExtensionState('{MODULE_ID}'); return [$s->enableModule(), $s->getMessages()];"
    )
    assert isinstance(ok, list) and ok[0] is True, ok


def links(rig: Rig) -> list[dict[str, Any]]:
    rows = rig.php_json(
        "return Modules\\ModuleConferenceLink\\Models\\ConferenceLinks::find(['order' => 'id'])->toArray();"
    )
    assert isinstance(rows, list)
    return rows


def worker_pids(rig: Rig) -> list[int]:
    """The module's Python worker processes in the session."""
    return [pid for pid, args in rig.processes() if "conflink.worker" in args and "python" in args]

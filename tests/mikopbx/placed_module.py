"""The module as Core sees it in the rig: the package zip (tools/build_package.py) unpacked
where Core keeps modules, and its row in m_PbxExtensionModules (enabled or not). Until the
rig's own installer helper is used here, this is the module's files without running Core's
installer (the REST and WAF tests need no tables of the module).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from rig import REPO, Rig

MODULE = "ModuleConferenceLink"


@functools.cache
def package_zip() -> Path:
    """Built once per test run."""
    out = Path(tempfile.mkdtemp(prefix="conflink-rig-pkg-"))
    subprocess.run([sys.executable, str(REPO / "tools" / "build_package.py"), "--out-dir", str(out)],
                   check=True, capture_output=True, text=True)
    zips = sorted(out.glob("*.zip"))
    assert len(zips) == 1, zips
    return zips[0]


def place_module(rig: Rig, enabled: bool = True) -> None:
    dest = rig.path(f"{rig.modules_dir}/{MODULE}")
    with zipfile.ZipFile(package_zip()) as zf:
        zf.extractall(dest)
    for f in (dest / "bin").iterdir():
        f.chmod(0o755)
    rig.php_json(
        "$m = new MikoPBX\\Common\\Models\\PbxExtensionModules();"
        f"$m->uniqid = '{MODULE}'; $m->name = 'Conference link'; $m->version = '0.2.0';"
        "$m->developer = 'test'; $m->support_email = 'test@example.org';"
        f"$m->disabled = '{'0' if enabled else '1'}';"
        "if (!$m->save()) { throw new RuntimeException(implode('; ', array_map('strval', $m->getMessages()))); }"
        "return true;"
    )

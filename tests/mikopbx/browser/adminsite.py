"""Core's admin application served from a rig session with PHP's built-in server.

`AdminSite(rig)` starts `php -S 127.0.0.1:<port>` inside the session (PHP 8.4 of the lab's sid
root) with tests/mikopbx/php/web-router.php as router: Core's own sites/admin-cabinet/index.php
answers the pages; web-pbxcore.php stands in for the REST front and nchan (see there). PHP's
warnings, notices and errors go to one log file, `php_problems()` reads it; the tests assert it
is empty. `stop()` ends the server by its PID (and its forked workers).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from lab import free_port_block as free_port
from rig import Rig

MODULE_ID = "ModuleConferenceLink"
MODULE_URL = "/admin-cabinet/module-conference-link/module-conference-link"
# The module's controller calls the REST API on the same server while a page waits for it
# (PBXCoreRESTClientProvider → http://localhost:<WebPort>): one worker would deadlock.
SERVER_WORKERS = 4


# PHP messages that come from what the rig pins rather than from MikoPBX or the module.
TOLERATED_PHP: tuple[tuple[str, str], ...] = (
    (r"PHP Deprecated: .*Implicitly marking parameter \$\w+ as nullable is deprecated.* in \S+/vendor/guzzle-\w+/src/",
     "the Guzzle commit the rig pins predates PHP 8.4's implicit-nullable deprecation; Core's REST "
     "client (PBXCoreRESTClientProvider) loads it on the first event published"),
)


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(x) for x in (task / "children").read_text().split()]
                out += kids
                todo += kids
    return out


class AdminSite:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.error_log_inner = f"{rig.inner}/php-web-errors.log"
        self.error_log = rig.path(self.error_log_inner)
        self.server_log = rig.host / "php-web-server.log"
        self.nchan_dir = rig.path(f"{rig.inner}/nchan")
        self._nchan_seen: dict[str, int] = {}
        self.proc: Any = None
        self.refresh_token = ""

    def start(self) -> AdminSite:
        rig = self.rig
        # Core's REST client reaches "the PBX" at localhost:<WebPort>: that is this server.
        rig.php_json(
            "MikoPBX\\Common\\Models\\PbxSettings::setValueByKey(MikoPBX\\Common\\Models\\PbxSettings::WEB_PORT, "
            f"'{self.port}');"
            # Core's JWT secret is made on first use; the REST stand-in's auth:refresh (a real
            # JWTHelper token) runs where models cannot be saved, so make it here.
            "MikoPBX\\PBXCoreREST\\Lib\\Auth\\JWTHelper::generate(['userId' => 'rig']); return true;"
        )
        # Logged in = a refreshToken cookie Core can decrypt (Core's cookies service decrypts
        # with Core's CryptProvider key): made here with that same provider. Without it Core
        # serves the page but leaves out the logged-in scripts (AssetProvider).
        self.refresh_token = str(rig.php_json(
            "$di = Phalcon\\Di\\Di::getDefault();"
            " (new MikoPBX\\Common\\Providers\\CryptProvider())->register($di);"
            " return $di->getShared('crypt')->encryptBase64('rig-admin-' . bin2hex(random_bytes(8)));"
        ))
        self.proc = rig.spawn(
            ["php", "-d", "display_errors=Off", "-d", "log_errors=On", "-d", f"error_log={self.error_log_inner}",
             "-d", "error_reporting=E_ALL", "-S", f"127.0.0.1:{self.port}", "-t", f"{rig.core}/sites",
             f"{rig.inner}/rig/web-router.php"],
            env={"PHP_CLI_SERVER_WORKERS": str(SERVER_WORKERS)},
            log=self.server_log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"php -S exited ({self.proc.returncode}):\n{self.server_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"php -S did not listen on {self.port} within 30 s:\n{self.server_text()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        pids = _descendants(self.proc.pid)
        for pid in [*reversed(pids), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # last resort: the server must not outlive the test
            for pid in [*pids, self.proc.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> AdminSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what the server said

    def server_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.server_log.read_text(errors="replace")[-4000:]
        return ""

    def php_problems(self) -> list[str]:
        """Every warning, notice, deprecation and error PHP logged while serving, but
        TOLERATED_PHP (each says why)."""
        with contextlib.suppress(OSError):
            lines = self.error_log.read_text(errors="replace").splitlines()
            return [ln for ln in lines if ln.strip() and not any(re.search(t, ln) for t, _why in TOLERATED_PHP)]
        return []

    def clear_php_problems(self) -> None:
        with contextlib.suppress(OSError):
            self.error_log.unlink()

    # ---- requests without a browser

    def get(self, path: str, timeout: float = 60, ajax: bool = False) -> tuple[int, str]:
        """GET as the pages do (`ajax`: with jQuery's X-Requested-With, so Core answers JSON)."""
        headers = {"Cookie": f"refreshToken={urllib.parse.quote(self.refresh_token)}"}
        if ajax:
            headers["X-Requested-With"] = "XMLHttpRequest"
        request = urllib.request.Request(self.base_url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    # ---- nchan stand-in: what Core published since the last call

    def published(self, channel: str = "event-bus") -> list[dict[str, Any]]:
        path = self.nchan_dir / f"{channel}.jsonl"
        try:
            lines = path.read_text().splitlines()
        except OSError:
            return []
        start = self._nchan_seen.get(channel, 0)
        self._nchan_seen[channel] = len(lines)
        return [json.loads(line) for line in lines[start:] if line.strip()]

"""Scenario 8: the control socket is reachable by nobody but its owner on this machine.

- ipc://: the socket file is mode 0600; user `nobody` cannot connect (while it can connect to a
  0666 socket in the same folder, so the refusal comes from the mode and not from the folder);
- tcp://: every listening socket of the worker is on loopback; the machine's other addresses
  refuse the port; a config naming a non-loopback address is refused at start and on push.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import lab as labmod
from conftest import Env, record
from lab import observe

ROOM = "760001"
NOBODY_CONNECT = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_UNIX)\n"
    "try:\n s.connect(sys.argv[1]); print('CONNECTED')\n"
    "except OSError as e: print(type(e).__name__, e.errno)\n"
)


def _as_nobody(path: str) -> str:
    res = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", NOBODY_CONNECT, path],
                         capture_output=True, text=True, timeout=20)
    assert res.returncode == 0, f"runuser failed: {res.stderr}"
    return res.stdout.strip()


def test_ipc_socket_is_private(env: Env) -> None:
    folder = Path(tempfile.mkdtemp(prefix="conflink-faults-ipc-", dir="/tmp"))
    folder.chmod(0o755)  # anyone may traverse: only the socket's own mode may keep `nobody` out
    try:
        path = folder / "ctl.sock"
        env.write_config([{"id": "a", "room": ROOM, "number": "700"}], control_endpoint=f"ipc://{path}")
        env.start_worker()
        mode = stat.S_IMODE(os.stat(path).st_mode)
        # positive control: a world-writable socket in the same folder IS reachable for nobody
        probe = socket.socket(socket.AF_UNIX)
        probe_path = folder / "probe.sock"
        probe.bind(str(probe_path))
        probe.listen(1)
        os.chmod(probe_path, 0o666)
        control_result = _as_nobody(str(probe_path))
        probe.close()
        nobody_result = _as_nobody(str(path))
        ping = env.ctl("ping")
        record("control_socket", "ipc socket mode", oct(mode))
        record("control_socket", "ipc: nobody connecting to the worker", nobody_result)
        record("control_socket", "ipc: nobody connecting to a 0666 probe socket", control_result)
        assert control_result == "CONNECTED", f"positive control failed: {control_result}"
        assert mode == 0o600, f"socket mode {oct(mode)}"
        assert nobody_result.startswith("PermissionError"), nobody_result
        assert ping.returncode == 0, ping.stdout + ping.stderr
        # a second worker on the same ipc path must not steal it
        w2 = labmod.Worker(env.config_path, env.tmp / "worker-second.log")
        try:
            w2.proc.wait(timeout=10)
        finally:
            w2.kill()
        record("control_socket", "ipc: second worker exit code", w2.proc.returncode)
        assert w2.proc.returncode != 0, "a second worker started on the same ipc path"
        assert env.ctl("ping").returncode == 0
    finally:
        for w in env.workers:
            w.stop()
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def _non_loopback_addresses() -> list[str]:
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    addrs = []
    for m in re.finditer(r"\binet6?\s+([0-9a-fA-F:.]+)/", out):
        ip = ipaddress.ip_address(m.group(1))
        if not ip.is_loopback and not ip.is_link_local:
            addrs.append(str(ip))
    return addrs


def test_tcp_socket_is_loopback_only(env: Env) -> None:
    env.write_config([{"id": "a", "room": ROOM, "number": "700"}])
    w = env.start_worker()
    port = int(env.config["control"]["endpoint"].rsplit(":", 1)[1])
    ss = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    mine = [line for line in ss.splitlines() if f"pid={w.pid}," in line]
    local = [line.split()[3] for line in mine]
    addrs = _non_loopback_addresses()
    assert addrs, "this machine has no non-loopback address to test with"
    reachable = []
    for a in addrs:
        fam = socket.AF_INET6 if ":" in a else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect((a, port))
            reachable.append(a)
        except OSError:
            pass
        finally:
            s.close()
    record("control_socket", "tcp: worker listening sockets", local)
    record("control_socket", "tcp: non-loopback addresses tried", addrs)
    record("control_socket", "tcp: reachable from non-loopback (must be none)", reachable)
    assert mine, f"no listening socket of pid {w.pid} in ss output"
    assert all(lp.startswith(("127.0.0.1:", "[::1]:")) for lp in local), local
    assert f"127.0.0.1:{port}" in local
    assert not reachable, reachable
    # non-loopback endpoints: refused on push (naming the field) and at start (exit code 2)
    refused_push, refused_start = [], []
    for ep in (f"tcp://0.0.0.0:{port + 1}", f"tcp://*:{port + 1}", f"tcp://{addrs[0]}:{port + 1}"):
        doc = json.loads(json.dumps(env.config))
        doc["control"]["endpoint"] = ep
        res = env.ctl("push-config", "-", stdin=json.dumps(doc))
        refused_push.append(res.returncode == 1 and "control.endpoint" in res.stdout + res.stderr)
        bad = env.tmp / "bad.yaml"
        labmod.write_yaml(bad, doc)
        w2 = labmod.Worker(bad, env.tmp / "worker-bad.log")
        try:
            code = w2.proc.wait(timeout=10)
        finally:
            w2.kill()
        refused_start.append(code == 2 and "control.endpoint" in w2.log())
    record("control_socket", "non-loopback endpoints refused on push / at start",
           [sum(refused_push), sum(refused_start)])
    assert all(refused_push) and all(refused_start), (refused_push, refused_start)
    assert w.running() and env.ctl("ping").returncode == 0
    observe(0.1, "a late crash of the worker would show up")

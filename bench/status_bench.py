"""One status request through the module's PHP code, old path against new (issue 9 item 2).

The admin pages poll status every few seconds, inside one of Core's three REST API worker
processes. 0.1.0 answered each poll by running bin/conflink-ctl (a Python interpreter start);
0.2.0 speaks the worker's ZeroMQ from PHP (Lib/WorkerClient, Lib/ZmtpClient). Both paths run
here against one real worker (bin/conflink-worker, pyzmq) with the same config, through the
same PHP classes the REST Processor uses (bench/status_request.php), and once more with the
worker stopped (what a poll costs while it is down). Per request: wall time, the PHP
process's own CPU, and the CPU of child processes it started (0 = none started).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
import zmq
from procs import Child, labmod
from stats import pct

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DRIVER = BENCH / "status_request.php"


def _php(*args: str) -> dict[str, Any]:
    out = subprocess.run(["php", str(DRIVER), *args], capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(raw: dict[str, Any]) -> dict[str, Any]:
    def row(key: str) -> dict[str, float]:
        return {"median": pct(raw[key], 0.5), "p95": pct(raw[key], 0.95), "max": max(raw[key])}

    return {"n": len(raw["wall_ms"]), "ok": raw["ok"], "links": raw["links"], "error": raw["error"][:160],
            "wall_ms": row("wall_ms"), "cpu_ms": row("cpu_ms"), "child_cpu_ms": row("child_cpu_ms"),
            "processes_started": sum(1 for c in raw["child_cpu_ms"] if c > 0)}


def _floor(config: Path, requests: int) -> dict[str, Any]:
    """The worker's own answer time: the same request from a pyzmq REQ socket in this (running)
    Python process, so nothing but the round trip and the worker's work is timed."""
    control = yaml.safe_load(config.read_text())["control"]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(control["endpoint"])
    body = json.dumps({"cmd": "status", "token": control["token"]}).encode()
    walls: list[float] = []
    try:
        for _ in range(requests + 1):
            t0 = time.perf_counter()
            sock.send(body)
            if not sock.poll(5000):
                raise RuntimeError("the worker did not answer the floor request")
            assert json.loads(sock.recv())["ok"] is True
            walls.append((time.perf_counter() - t0) * 1000)
    finally:
        sock.close(0)
        ctx.term()
    walls = walls[1:]  # the first one connects
    return {"n": len(walls), "wall_ms": {"median": pct(walls, 0.5), "p95": pct(walls, 0.95), "max": max(walls)}}


def status_request_bench(requests: int, down_requests: int, links: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="conflink-bench-status-"))
    try:
        port = labmod.free_port_block()
        _php("setup", str(work), str(port), str(links))
        worker = Child([str(REPO / "bin" / "conflink-worker"), "--config", str(work / "etc" / "conflink.yaml")],
                       work / "worker.out")
        try:
            deadline = time.monotonic() + 30
            while _php("new", str(work), "1")["ok"] != 1:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not answer: {worker.text()[-2000:]}")
                time.sleep(0.2)
            up = {"new": _summary(_php("new", str(work), str(requests))),
                  "old": _summary(_php("old", str(work), str(requests))),
                  "floor": _floor(work / "etc" / "conflink.yaml", requests)}
        finally:
            worker.stop()
        down = {"new": _summary(_php("new", str(work), str(down_requests))),
                "old": _summary(_php("old", str(work), str(down_requests)))}
        for side in (up, down):
            assert side["new"]["processes_started"] == 0, side["new"]
        assert up["new"]["ok"] == up["old"]["ok"] == requests, up
        assert up["new"]["links"] == up["old"]["links"] == links, up
        return {"links": links, "worker_up": up, "worker_down": down}
    finally:
        shutil.rmtree(work, ignore_errors=True)

"""MikoPBX's soft restart of the module's worker through Core's own code.

Core's Processes::processPHPWorker(<wrapper>, 'start', 'soft-restart') — what every module
enable/disable triggers for every worker — sends the wrapper SIGUSR1, waits at most 5 s
(checking once a second) for it to exit and starts a new one only if it did. The module's real
wrapper (WorkerConferenceLinkPy on Core's WorkerBase) must exit at once and leave its Python
worker running; the new wrapper stops that worker with SIGUSR1 (a restart stop, calls kept)
and starts its own. The call-carrying version of this, with the gap measured, is
tests/e2e/test_soft_restart.py on the lab (the rig has no Asterisk).
"""

from __future__ import annotations

import socket
import time

from rig import Rig
from test_install import MODULE, WRAPPER, current_zip, install, running, worker_procs  # noqa: F401 - fixture

CORE_WAIT_S = 5


def worker_log_lines(rig: Rig, text: str) -> list[str]:
    log = rig.path(f"{rig.logs_dir}/{MODULE}/conflink-worker.log")
    return [ln for ln in log.read_text(errors="replace").splitlines() if text in ln] if log.exists() else []


def test_cores_soft_restart_starts_a_new_wrapper_which_takes_the_worker_over(rig: Rig, current_zip) -> None:  # noqa: F811
    install(rig, current_zip)
    # Rig sessions share the host's network: a control port of our own, not the default 7391.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rig.php_json(f"$s = Modules\\{MODULE}\\Models\\ConferenceLinkSettings::findFirst(); $s->control_port = '{port}';"
                 "return $s->save();")
    assert rig.admin("enable")["success"]
    (old_wrapper,), (old_worker,) = worker_procs(rig.wait_processes(running, what="wrapper and worker running"))
    rig.wait_processes(lambda _: worker_log_lines(rig, "started"), what="worker logging")

    t0 = time.monotonic()
    # Core's call, then at once: is the old worker still up? (The new wrapper is only starting.)
    took, old_worker_alive = rig.php_json(
        "$t = microtime(true);"
        f"MikoPBX\\Core\\System\\Processes::processPHPWorker('{WRAPPER}', 'start', 'soft-restart');"
        "$took = microtime(true) - $t;"
        f"$stat = @file_get_contents('/proc/{old_worker}/stat');"
        "return [$took, is_string($stat) && preg_match('/\\)\\s+Z\\s/', $stat) !== 1];"
    )
    # Core gave up on nothing: the old wrapper was gone at one of its checks, so it started one.
    assert took < CORE_WAIT_S, f"core waited {took:.1f} s: the old wrapper outlived its window"
    assert old_worker_alive, "the old wrapper stopped its worker instead of handing it over"
    procs = rig.wait_processes(
        lambda p: running(p) and worker_procs(p)[1] != [old_worker], timeout=30, what="new wrapper and worker"
    )
    (new_wrapper,), (new_worker,) = worker_procs(procs)
    assert new_wrapper != old_wrapper and new_worker != old_worker
    # Then the new wrapper stopped it with SIGUSR1, the restart stop that leaves calls up.
    stops = worker_log_lines(rig, "stopping (")
    assert len(stops) == 1 and "restart: external calls stay up" in stops[0], stops
    print(f"\ncore's soft restart returned after {took:.2f} s (old wrapper gone at its check {int(took)}); "
          f"whole exchange {time.monotonic() - t0:.2f} s")

"""`conflink-worker --config PATH`: the daemon.

Checks its own runtime first (MikoPBX's Python may lack parts of the standard library),
then binds the control socket, connects to AMI and runs until a signal:
SIGTERM/SIGINT is a final stop (external calls are hung up first, so none is left alone);
SIGUSR1 is a restart (calls stay up and the next worker adopts them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import PurePath

from .selfcheck import diagnose, format_report, run_self_check

EXIT_BAD_CONFIG = 2
EXIT_RUNTIME = 3
STOP_TIMEOUT = 1.8
HANGUP_ON_STOP_TIMEOUT = 1.0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="conflink-worker", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="YAML config file (may be missing or empty: wait for a push)")
    parser.add_argument("--log-file", help="log here instead of stderr")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--self-check", action="store_true", help="check the Python runtime and exit")
    parser.add_argument("--reconcile-interval", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.self_check and not args.config:
        parser.error("--config is required")
    if not 1 <= args.reconcile_interval <= 3600:
        parser.error("--reconcile-interval must be 1..3600 seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.self_check:
        return run_self_check()
    problems = diagnose()
    if problems:
        print(format_report(problems), file=sys.stderr)
        return EXIT_RUNTIME

    # Imported only after the self-check so a missing module is named, not a traceback.
    import asyncio

    from .config import ConfigError, load_config_file
    from .logs import setup_logging

    setup_logging(args.log_file, args.log_level)
    try:
        config = load_config_file(args.config)
    except ConfigError as exc:
        print(f"conflink-worker: bad config file {args.config}: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except OSError as exc:
        print(f"conflink-worker: cannot read {args.config}: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        return asyncio.run(_run(config, args))
    except KeyboardInterrupt:
        return 0


async def _run(config: object, args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal
    import time

    from . import __version__
    from .config import DEFAULT_ENDPOINT, Config
    from .control import ControlEndpointError, ControlHandler, ControlServer
    from .engine import Engine

    log = logging.getLogger("conflink.worker")
    assert config is None or isinstance(config, Config)
    # Today's call time per link (cost limits) survives restarts in a file next to the config.
    usage_path = str(PurePath(args.config).with_name("conflink-usage.json"))
    engine = Engine(reconcile_interval=args.reconcile_interval, usage_path=usage_path)
    endpoint = config.control.endpoint if config is not None else DEFAULT_ENDPOINT
    handler = ControlHandler(engine, args.config, __version__, time.time(), bound_endpoint=endpoint)
    server = ControlServer(endpoint, handler)
    try:
        await server.start()
    except ControlEndpointError as exc:
        print(f"conflink-worker: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG

    stop = asyncio.Event()
    keep_calls = False

    def request_stop(keep: bool) -> None:
        nonlocal keep_calls
        keep_calls = keep
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop, False)
    loop.add_signal_handler(signal.SIGUSR1, request_stop, True)
    log.info(
        "conflink-worker %s started: %s, control %s",
        __version__,
        f"{len(config.links)} link(s)" if config is not None else "no config yet (waiting for a push)",
        endpoint,
    )
    await engine.start(config)
    await stop.wait()
    log.info("stopping (%s)", "restart: external calls stay up" if keep_calls else "final: hanging up external calls")
    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            if not keep_calls:
                await engine.hang_up_all(HANGUP_ON_STOP_TIMEOUT)
            await engine.stop()
            await server.close()
    except TimeoutError:
        log.warning("stop took longer than %.1f s; exiting anyway", STOP_TIMEOUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())

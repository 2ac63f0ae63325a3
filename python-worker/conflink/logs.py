"""Logging set-up: one line per decision, millisecond timestamps, stderr or a file."""

from __future__ import annotations

import logging
import logging.handlers


def setup_logging(log_file: str | None, level: str = "INFO") -> None:
    # WatchedFileHandler reopens the file after the system's logrotate moved it away.
    handler: logging.Handler = (
        logging.handlers.WatchedFileHandler(log_file) if log_file else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # panoramisk logs every reconnect attempt at ERROR; our own ami module says it once, clearly.
    logging.getLogger("conflink.ami.panoramisk").setLevel(logging.CRITICAL)

"""The one place the worker asks for "call me later".

The engine takes a Scheduler, so every timer path (link timers, the once-a-minute
reconcile, room-list retries, the final stop's wait) can be driven by a test clock
without wall time. Production uses the running asyncio loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class Handle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    def call_later(self, delay: float, callback: Callable[..., object], *args: object) -> Handle: ...


class LoopScheduler:
    """`loop.call_later` on the loop running at the time of the call."""

    def call_later(self, delay: float, callback: Callable[..., object], *args: object) -> Handle:
        return asyncio.get_running_loop().call_later(delay, callback, *args)

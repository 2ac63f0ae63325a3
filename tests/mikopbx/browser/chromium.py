"""Headless Chromium for the admin-page tests: Debian's /usr/bin/chromium driven by
Playwright for Python (the pip package; its own browser download is never used).

Every page opened through `Browser.page()` records what would show a broken page to an
administrator: console errors and warnings, uncaught exceptions, failed requests and HTTP
errors. `Browser.problems()` returns them minus the tolerated ones, each of which names
what the rig lacks and why that is not the module's fault; the tests assert it is empty.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "tests" / ".artifacts" / "mikopbx-browser"
CHROMIUM = Path(os.environ.get("CONFLINK_CHROMIUM", "/usr/bin/chromium"))

# What works on this machine as root (no sandbox, no GPU, no network chatter of its own).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass(frozen=True)
class Tolerated:
    """A message the rig causes by lacking a part of a PBX. `pattern` must match the whole
    recorded line (kind: text), so nothing else slips through."""

    pattern: str
    why: str


# Each names what causes it; none may come from the module. Core's EventBus WebSocket (nginx's
# nchan on a PBX, which PHP's built-in server cannot serve) is routed to the test itself
# (Browser.page), so it connects as on a PBX; Core's other background calls are answered by the
# rig's REST stand-in (web-pbxcore.php), so neither needs an entry here.
TOLERATED: tuple[Tolerated, ...] = (
    Tolerated(
        r"requestfailed: POST http://127\.0\.0\.1:\d+/pbxcore/api/v3/user-page-tracker:pageLeave net::ERR_ABORTED",
        "Core's page tracker posts pageLeave while the page unloads; the browser cancels a request "
        "of a page it leaves (on a PBX too), whatever the server would answer",
    ),
)


def _tolerated(line: str) -> bool:
    return any(re.fullmatch(t.pattern, line, flags=re.S) for t in TOLERATED)


@dataclass
class PageLog:
    lines: list[str] = field(default_factory=list)

    def add(self, kind: str, text: str) -> None:
        self.lines.append(f"{kind}: {text}")


class BrowserError(RuntimeError):
    pass


def check_prerequisites() -> None:
    """FAIL (never skip) when the browser stack is missing."""
    if not CHROMIUM.is_file():
        raise BrowserError(
            f"{CHROMIUM} not found: install Debian's chromium (tools/install-system-deps.sh does, "
            "or `make system-deps`)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise BrowserError("Playwright for Python is missing from the venv: run `make deps`") from exc


class Browser:
    """One Chromium process; `page()` opens a fresh context (own cookies, locale)."""

    def __init__(self, base_url: str) -> None:
        check_prerequisites()
        from playwright.sync_api import sync_playwright

        self.base_url = base_url.rstrip("/")
        self.log = PageLog()
        self._pw = sync_playwright().start()
        try:
            # launch() gives Chromium a fresh temporary profile (--user-data-dir) of its own
            # and removes it on close, so no run sees the last one's state.
            self._browser = self._pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            )
        except Exception:
            self._pw.stop()
            raise
        self.version = self._browser.version
        self._sockets: dict[int, list[Any]] = {}

    def close(self) -> None:
        try:
            self._browser.close()
        finally:
            self._pw.stop()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def page(self, locale: str = "en-US", cookies: list[dict[str, Any]] | None = None,
             base_url: str | None = None) -> Any:
        base = (base_url or self.base_url).rstrip("/")
        context = self._browser.new_context(locale=locale, viewport={"width": 1280, "height": 900}, base_url=base)
        if cookies:
            context.add_cookies([{"url": base, **c} for c in cookies])
        page = context.new_page()
        page.set_default_timeout(15000)
        log = self.log

        def on_console(msg: Any) -> None:
            if msg.type in ("error", "warning"):
                kind = "console.error" if msg.type == "error" else "console.warn"
                log.add(kind, msg.text)

        def on_response(resp: Any) -> None:
            if resp.status >= 400:
                log.add(f"http {resp.status}", f"{resp.request.method} {resp.url}")

        # nchan's subscriber side: Core's EventBus connects here; push() delivers what Core
        # published through the rig's /pbxcore/api/nchan/pub stand-in.
        sockets: list[Any] = []

        def on_socket(ws: Any) -> None:
            sockets.append(ws)

        page.route_web_socket(re.compile(r".*/pbxcore/api/nchan/sub/.*"), on_socket)
        self._sockets[id(page)] = sockets
        page.on("console", on_console)
        page.on("pageerror", lambda exc: log.add("pageerror", str(exc)))
        page.on("requestfailed", lambda req: log.add("requestfailed", f"{req.method} {req.url} {req.failure}"))
        page.on("response", on_response)
        return page

    def push(self, page: Any, messages: list[dict[str, Any]]) -> int:
        """Delivers nchan messages to the page's EventBus sockets; returns how many sockets."""
        sockets = self._sockets.get(id(page), [])
        for ws in sockets:
            for message in messages:
                ws.send(json.dumps(message))
        return len(sockets)

    def problems(self) -> list[str]:
        return [line for line in self.log.lines if not _tolerated(line)]

    def tolerated_seen(self) -> list[str]:
        return [line for line in self.log.lines if _tolerated(line)]


def screenshot(page: Any, name: str, selector: str | None = None) -> Path:
    """Viewport shot, or of one element scrolled into view (full-page shots misplace Core's
    fixed sidebar and footer)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if selector is None:
        page.screenshot(path=str(path))
    else:
        element = page.locator(selector)
        element.scroll_into_view_if_needed()
        element.screenshot(path=str(path))
    return path


@contextmanager
def browser(base_url: str) -> Iterator[Browser]:
    b = Browser(base_url)
    try:
        yield b
    finally:
        b.close()

"""Today's call time per link, kept on disk so a worker restart does not reset the cost limits.

One small JSON file next to the config: {"version": 1, "links": {"<id>": {"day": <date
ordinal>, "used_seconds": s, "limited": "<StopKind value or empty>", "limited_text": "…"}}}.
Written (temp file, fsync, rename) whenever a call ends or a cost limit stops a link, which
is rare; a call still up when the worker dies loses only its own time (it is adopted, and
counted again, from the moment the next worker finds it). A missing or unreadable file means
"nothing used yet": it can only ever make a limit later, never stop a link by mistake.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass

log = logging.getLogger("conflink.usage")


@dataclass(frozen=True, slots=True)
class LinkUsage:
    day: int
    used_seconds: float
    limited: str = ""
    limited_text: str = ""


class UsageStore:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.links: dict[str, LinkUsage] = self._load()

    def _load(self) -> dict[str, LinkUsage]:
        if self.path is None:
            return {}
        try:
            with open(self.path, encoding="utf-8") as handle:
                doc = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("usage file %s unreadable (%s): starting from zero", self.path, exc)
            return {}
        out: dict[str, LinkUsage] = {}
        links = doc.get("links") if isinstance(doc, dict) else None
        for link_id, item in (links or {}).items() if isinstance(links, dict) else ():
            try:
                out[str(link_id)] = LinkUsage(
                    day=int(item["day"]), used_seconds=max(0.0, float(item["used_seconds"])),
                    limited=str(item.get("limited", "")), limited_text=str(item.get("limited_text", ""))[:500],
                )
            except (KeyError, TypeError, ValueError):
                log.warning("usage file %s: entry of link %s ignored", self.path, link_id)
        return out

    def get(self, link_id: str) -> LinkUsage | None:
        return self.links.get(link_id)

    def put(self, link_id: str, usage: LinkUsage) -> None:
        if self.links.get(link_id) == usage:
            return
        self.links[link_id] = usage
        self._save()

    def keep_only(self, link_ids: set[str]) -> None:
        """Forget links that left the config."""
        gone = [i for i in self.links if i not in link_ids]
        if gone:
            for link_id in gone:
                del self.links[link_id]
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        doc = {"version": 1, "links": {
            i: {"day": u.day, "used_seconds": u.used_seconds, "limited": u.limited, "limited_text": u.limited_text}
            for i, u in sorted(self.links.items())
        }}
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, tmp = tempfile.mkstemp(prefix=".conflink-usage-", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(doc, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                _unlink_quietly(tmp)
                raise
        except OSError as exc:
            log.warning("cannot write usage file %s: %s", self.path, exc)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass

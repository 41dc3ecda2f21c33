"""HubSpot's read lag for events: the versions of every event that a lagged API read may still see.

HubSpot documents that events "become searchable by externalEventId a few minutes after creation";
the sandbox makes every API read of events (list, read by external ids, search, the participation
reads' event look-up) see the events as they were ``read_lag_s`` seconds ago. Each write of an
event (create, update, cancel, complete, a hand edit, a delete) appends a version, a copy of the
record or ``None`` for a delete, stamped with :func:`time.monotonic`. A read at ``now`` sees, per
event, the newest version stamped at or before ``now - lag``; none, or a ``None``, is "absent".

Not locked: :class:`~hubspot_events_provider.sandbox.state.SandboxState` calls it under its lock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

AppEventKey = tuple[int, str, str]
Version = tuple[float, dict[str, Any] | None]


def copy_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stored record that shares nothing mutable with it.

    :param record: a stored event record.
    """
    return dict(record, customProperties=dict(record["customProperties"]))


class EventVersions:
    """The versions of every event that an API read lagging ``lag_s`` seconds may still see.

    :param lag_s: the read lag, in seconds (changeable at runtime).
    """

    def __init__(self, lag_s: float) -> None:
        self.lag_s = lag_s
        self._log: dict[AppEventKey, list[Version]] = {}

    def reset(self) -> None:
        """Forget every version."""
        self._log.clear()

    def note(self, key: AppEventKey, record: dict[str, Any] | None) -> None:
        """Record a write: the event's new state, ``None`` when it was deleted.

        :param key: ``(appId, externalAccountId, externalEventId)``.
        :param record: the stored record after the write (copied here), or ``None``.
        """
        now = time.monotonic()
        log = self._log.setdefault(key, [])
        log.append((now, None if record is None else copy_record(record)))
        self._trim(key, now - self.lag_s)

    def _trim(self, key: AppEventKey, cutoff: float) -> None:
        """Drop the versions no read at ``cutoff`` or later can see (all older than a visible one)."""
        log = self._log[key]
        while len(log) > 1 and log[1][0] <= cutoff:
            del log[0]
        if len(log) == 1 and log[0][1] is None and log[0][0] <= cutoff:
            del self._log[key]  # a delete every read sees: nothing left to show

    def view(self, key: AppEventKey) -> dict[str, Any] | None:
        """The event as a lagged read sees it now, or ``None`` when such a read finds no event.

        :param key: ``(appId, externalAccountId, externalEventId)``.
        """
        return self._seen(self._log.get(key, ()), time.monotonic() - self.lag_s)

    def views(self, app: int | None = None) -> list[dict[str, Any]]:
        """Every event a lagged read sees now (of ``app`` only, when given), ordered by objectId.

        :param app: restrict to the events this app created.
        """
        cutoff = time.monotonic() - self.lag_s
        found = [
            self._seen(log, cutoff) for (owner, _a, _e), log in self._log.items() if app in (None, owner)
        ]
        return sorted((r for r in found if r is not None), key=lambda r: int(r["objectId"]))

    @staticmethod
    def _seen(log: Sequence[Version], cutoff: float) -> dict[str, Any] | None:
        """The newest version of ``log`` stamped at or before ``cutoff``, copied; ``None`` if none."""
        seen: dict[str, Any] | None = None
        for stamp, record in log:
            if stamp > cutoff:
                break
            seen = record
        return None if seen is None else copy_record(seen)

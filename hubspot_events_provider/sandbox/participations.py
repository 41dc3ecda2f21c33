"""Contacts and marketing-event participations of the sandbox (thread-safe, in memory).

What the attendance routes change and read:

* contacts, keyed by ``vid`` (int64; never narrowed) with a case-insensitive email index.
  ``email-create`` creates a missing contact with its ``contactProperties``; an existing contact's
  properties are never changed (HubSpot: "used exclusively for creating new contacts").
* participations, one per (marketing event objectId, contact): the *current* state only
  (``REGISTERED``, ``ATTENDED``, ``CANCELLED``, ``NO_SHOW``), changed in arrival order (a
  ``register`` arriving after an ``attend`` moves the contact back to ``REGISTERED``: HubSpot counts
  only the current state, and does not document an ordering by ``interactionDateTime``).
* reads through the API (counters, breakdowns, counters on event reads) see every participation as
  it was ``lag_s`` seconds ago (``SandboxConfig.participation_lag_s``): HubSpot processes participation
  writes asynchronously ("takes some time"), so a read right after a write may not show it yet;
  introspection (``current=True``) sees the present.
* timeline events: one per distinct (contact, event, state, interactionDateTime); re-sending the
  same input adds nothing (HubSpot: idempotent while the contact and the time do not change).

Keyed by the event's objectId, so an event deleted and created again starts with no participations.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hubspot_events_provider.sandbox.responses import now_iso
from hubspot_events_provider.sandbox.validation import parse_rfc3339

#: URL subscriber state -> stored attendance state.
STATE_OF_ACTION = {"register": "REGISTERED", "attend": "ATTENDED", "cancel": "CANCELLED"}
ATTENDANCE_STATES = ("REGISTERED", "ATTENDED", "CANCELLED", "NO_SHOW")
FIRST_CONTACT_ID = 100_000_000_001  # created contacts get ids beyond 2^31, as in real portals
FIRST_PARTICIPATION_ID = 7_000_000_001
#: Fields of a participation that change; API reads see them as they were ``lag_s`` seconds ago.
_MUTABLE = (
    "state",
    "occurredAt",
    "joinedAt",
    "leftAt",
    "attendanceDurationSeconds",
    "attendancePercentage",
    "updatedAt",
)


@dataclass(frozen=True)
class EventRef:
    """The marketing event a participation belongs to.

    :param object_id: HubSpot objectId of the event.
    :param external_account_id: its externalAccountId.
    :param external_event_id: its externalEventId.
    :param name: its eventName.
    """

    object_id: str
    external_account_id: str
    external_event_id: str
    name: str

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> EventRef:
        """The reference of a stored event record.

        :param record: a record from :class:`~hubspot_events_provider.sandbox.state.SandboxState`.
        """
        return cls(
            str(record["objectId"]),
            str(record["externalAccountId"]),
            str(record["externalEventId"]),
            str(record.get("eventName") or ""),
        )


class AttendanceStore:
    """Contacts, participations and timeline events of one sandbox.

    :param seeds: contacts that exist from the start (``vid``, ``email``, ``properties``).
    :param lag_s: how old the view of API reads is, in seconds (changeable at runtime).
    """

    def __init__(self, seeds: Iterable[Mapping[str, Any]] = (), lag_s: float = 0.0) -> None:
        self.lag_s = lag_s
        self._lock = threading.RLock()
        self._contacts: dict[int, dict[str, Any]] = {}
        self._by_email: dict[str, int] = {}
        # objectId -> contact id -> participation: event reads and /complete touch one event only.
        self._parts: dict[str, dict[int, dict[str, Any]]] = {}
        self._timeline: set[tuple[int, str, str, int]] = set()
        self._counts: collections.Counter[str] = collections.Counter()
        self._next_vid = FIRST_CONTACT_ID
        self._next_part = FIRST_PARTICIPATION_ID
        self.reset(seeds)

    def reset(self, seeds: Iterable[Mapping[str, Any]] = ()) -> None:
        """Forget everything and start again with ``seeds``.

        :param seeds: contacts that exist from the start.
        """
        with self._lock:
            self._contacts.clear()
            self._by_email.clear()
            self._parts.clear()
            self._timeline.clear()
            self._counts.clear()
            self._next_vid = FIRST_CONTACT_ID
            self._next_part = FIRST_PARTICIPATION_ID
            for seed in seeds:
                self._add_contact(int(seed["vid"]), str(seed["email"]), seed.get("properties") or {}, "seed")

    # -- contacts --------------------------------------------------------------------------------

    def _add_contact(self, vid: int, email: str, properties: Mapping[str, Any], origin: str) -> None:
        self._contacts[vid] = {
            "vid": vid,
            "email": email,
            "properties": {str(k): str(v) for k, v in properties.items()},
            "createdAt": now_iso(),
            "origin": origin,
        }
        self._by_email[email.casefold()] = vid

    def has_contact(self, vid: int) -> bool:
        """Whether a contact with this id exists.

        :param vid: the contact id.
        """
        with self._lock:
            return vid in self._contacts

    def contact_for_email(self, email: str, contact_properties: Mapping[str, str]) -> int:
        """The id of the contact with this email (any case), created with ``contact_properties`` if new.

        :param email: a valid email address.
        :param contact_properties: properties of a new contact; ignored for an existing one.
        """
        with self._lock:
            vid = self._by_email.get(email.casefold())
            if vid is None:
                vid = self._next_vid
                self._next_vid += 1
                self._add_contact(vid, email, contact_properties, "email-create")
                self._counts["contacts_created"] += 1
            return vid

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact: ``vid``, ``email``, ``properties``, ``createdAt``, ``origin``."""
        with self._lock:
            return [dict(c, properties=dict(c["properties"])) for c in self._contacts.values()]

    # -- participations --------------------------------------------------------------------------

    def record(
        self, event: EventRef, vid: int, action: str, interaction_ms: int, properties: Mapping[str, str]
    ) -> None:
        """Record one (already validated) input: set the contact's current state for the event.

        :param event: the marketing event.
        :param vid: an existing contact id.
        :param action: ``register``, ``attend`` or ``cancel``.
        :param interaction_ms: ``interactionDateTime`` (epoch milliseconds, stored as sent).
        :param properties: ``joinedAt`` / ``leftAt`` (attend only; validated by the route).
        """
        stamp = now_iso()
        with self._lock:
            parts = self._parts.setdefault(event.object_id, {})
            part = parts.get(vid)
            if part is None:
                part = {
                    "id": str(self._next_part),
                    "marketingEventId": event.object_id,
                    "externalAccountId": event.external_account_id,
                    "externalEventId": event.external_event_id,
                    "eventName": event.name,
                    "vid": vid,
                    "joinedAt": None,
                    "leftAt": None,
                    "attendanceDurationSeconds": None,
                    "attendancePercentage": None,
                    "createdAt": stamp,
                }
                self._next_part += 1
                parts[vid] = part
            part["state"] = STATE_OF_ACTION[action]
            part["occurredAt"] = interaction_ms
            part["updatedAt"] = stamp
            for name in ("joinedAt", "leftAt"):
                if name in properties and properties[name] != part[name]:
                    part[name] = properties[name]
                    # HubSpot computes durations only when /complete is called again.
                    part["attendanceDurationSeconds"] = part["attendancePercentage"] = None
            self._snapshot(part)
            self._counts["attendance_applied"] += 1
            self._timeline.add((vid, event.object_id, action, interaction_ms))

    def _snapshot(self, part: dict[str, Any]) -> None:
        """Log a participation's changed fields, dropping versions no lagged read can see any more."""
        now = time.monotonic()
        log: list[tuple[float, dict[str, Any]]] = part.setdefault("_log", [])
        log.append((now, {name: part[name] for name in _MUTABLE}))
        cutoff = now - max(self.lag_s, 0.0)
        while len(log) > 1 and log[1][0] <= cutoff:
            del log[0]

    def _view(self, part: dict[str, Any], cutoff: float | None) -> dict[str, Any] | None:
        """A participation as seen at ``cutoff`` (monotonic; ``None`` = now); ``None`` if not yet visible."""
        view = {k: v for k, v in part.items() if k != "_log"}
        if cutoff is None:
            return view
        seen = [snapshot for stamp, snapshot in part["_log"] if stamp <= cutoff]
        return {**view, **seen[-1]} if seen else None

    def _cutoff(self, current: bool) -> float | None:
        return None if current or self.lag_s <= 0 else time.monotonic() - self.lag_s

    def counters(self, object_id: str, *, current: bool = False) -> dict[str, int]:
        """``AttendanceCounters`` of one event: contacts by (current) state, as API reads see them.

        :param object_id: the event's objectId.
        :param current: the present, not the lagged view of API reads.
        """
        with self._lock:
            cutoff = self._cutoff(current)
            views = [self._view(p, cutoff) for p in self._parts.get(object_id, {}).values()]
            states = collections.Counter(v["state"] for v in views if v is not None)
        return {
            "registered": states["REGISTERED"],
            "attended": states["ATTENDED"],
            "cancelled": states["CANCELLED"],
            "noShows": states["NO_SHOW"],
        }

    def add_counters(self, body: dict[str, Any], *, current: bool = False) -> dict[str, Any]:
        """Set an event read body's ``registrants``, ``attendees``, ``cancellations``, ``noShows``.

        :param body: a read / list body of one event (has ``objectId``); changed and returned.
        :param current: the present, not the lagged view of API reads.
        """
        counts = self.counters(str(body["objectId"]), current=current)
        body.update(
            registrants=counts["registered"],
            attendees=counts["attended"],
            cancellations=counts["cancelled"],
            noShows=counts["noShows"],
        )
        return body

    def select(
        self,
        *,
        object_id: str | None = None,
        vid: int | None = None,
        state: str | None = None,
        current: bool = False,
    ) -> list[dict[str, Any]]:
        """Participations (copies, with the contact's ``email``) ordered by id, filtered, as API
        reads see them.

        :param object_id: only this event's.
        :param vid: only this contact's.
        :param state: only this attendance state.
        :param current: the present, not the lagged view of API reads.
        """
        with self._lock:
            cutoff = self._cutoff(current)
            views = [self._view(p, cutoff) for p in self._iter(object_id) if vid is None or p["vid"] == vid]
            found = [
                dict(v, email=self._contacts[v["vid"]]["email"])
                for v in views
                if v is not None and (state is None or v["state"] == state)
            ]
        return sorted(found, key=lambda p: int(p["id"]))

    def _iter(self, object_id: str | None) -> Iterable[dict[str, Any]]:
        """Participations of one event, or of every event (call with the lock held)."""
        if object_id is not None:
            return self._parts.get(object_id, {}).values()
        return [p for parts in self._parts.values() for p in parts.values()]

    def contact_id(self, identifier: str) -> int | None:
        """The contact an identifier names: a numeric id or an email (any case); ``None`` if unknown.

        :param identifier: ``contactIdentifier`` of a breakdown query.
        """
        with self._lock:
            if identifier.isdigit() and int(identifier) in self._contacts:
                return int(identifier)
            return self._by_email.get(identifier.casefold())

    def complete(self, object_id: str, start: dt.datetime, end: dt.datetime, *, mark_no_shows: bool) -> None:
        """Compute attendance durations of one event (and turn registrations into no-shows).

        Duration = ``leftAt - joinedAt`` in whole seconds (0 when ``leftAt`` is before ``joinedAt``:
        HubSpot documents no check, so the sandbox accepts such input silently); percentage of the
        event's length as text with one decimal.

        :param object_id: the event's objectId.
        :param start: the event's start.
        :param end: the event's end.
        :param mark_no_shows: ``REGISTERED`` becomes ``NO_SHOW``.
        """
        length = (end - start).total_seconds()
        with self._lock:
            for part in self._parts.get(object_id, {}).values():
                if _complete_one(part, length, mark_no_shows):
                    self._snapshot(part)
            self._counts["completions"] += 1

    def participations(self) -> list[dict[str, Any]]:
        """Every participation as it is now (introspection shape), ordered by id."""
        return self.select(current=True)

    def stats(self) -> dict[str, int]:
        """Counters: ``contacts``, ``contacts_created``, ``participations``, ``timeline_events``,
        ``attendance_applied``, ``completions``."""
        with self._lock:
            return {
                "contacts": len(self._contacts),
                "contacts_created": self._counts["contacts_created"],
                "participations": sum(len(parts) for parts in self._parts.values()),
                "timeline_events": len(self._timeline),
                "attendance_applied": self._counts["attendance_applied"],
                "completions": self._counts["completions"],
            }


def _complete_one(part: dict[str, Any], length: float, mark_no_shows: bool) -> bool:
    """Apply ``/complete`` to one participation; whether anything changed."""
    before = (part["state"], part["attendanceDurationSeconds"], part["attendancePercentage"])
    if part["state"] == "REGISTERED" and mark_no_shows:
        part["state"] = "NO_SHOW"
    joined = parse_rfc3339(part["joinedAt"]) if part["joinedAt"] else None
    left = parse_rfc3339(part["leftAt"]) if part["leftAt"] else None
    if part["state"] == "ATTENDED" and joined is not None and left is not None:
        seconds = max(0, int((left - joined).total_seconds()))
        part["attendanceDurationSeconds"] = seconds
        part["attendancePercentage"] = f"{100.0 * seconds / length:.1f}" if length > 0 else "0.0"
    changed = before != (part["state"], part["attendanceDurationSeconds"], part["attendancePercentage"])
    if changed:
        part["updatedAt"] = now_iso()
    return changed

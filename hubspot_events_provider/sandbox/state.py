"""Thread-safe in-memory state of the sandbox.

Holds the stored events keyed by ``(appId, externalAccountId, externalEventId)`` (external ids are
scoped to the app that created the event: another app neither sees nor touches them), objectId allocation,
counters, the request log, the rolling rate window and daily counter, issued OAuth access tokens
and the seeded RNG used for latency and faults. Every public method takes the lock.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from hubspot_events_provider.sandbox.config import Fault, RequestRecord, SandboxConfig
from hubspot_events_provider.sandbox.handedit import UI_SOURCE
from hubspot_events_provider.sandbox.participations import AttendanceStore
from hubspot_events_provider.sandbox.readlag import EventVersions, copy_record
from hubspot_events_provider.sandbox.responses import iso_utc, now_iso
from hubspot_events_provider.sandbox.validation import parse_rfc3339

FIRST_OBJECT_ID = 510_000_000
#: ``PropertyValue.source`` of a custom property written through the API.
API_SOURCE = "INTEGRATION"
EventKey = tuple[str, str]
AppEventKey = tuple[int, str, str]


@dataclass(frozen=True)
class RateDecision:
    """Outcome of counting one request against the rate limits.

    :param policy: ``None`` when allowed, else ``TEN_SECONDLY_ROLLING`` or ``DAILY``.
    :param headers: the ``X-HubSpot-RateLimit-*`` headers to send.
    """

    policy: str | None
    headers: dict[str, str]


class SandboxState:
    """All mutable state of one sandbox.

    :param config: the initial configuration.
    """

    UNLIMITED_MAX = 1_000_000

    def __init__(self, config: SandboxConfig) -> None:
        self._lock = threading.RLock()
        self.config = config
        self._rng = random.Random(config.seed)
        self._events: dict[AppEventKey, dict[str, Any]] = {}
        self._next_object_id = FIRST_OBJECT_ID
        self._log: list[RequestRecord] = []
        self._window: collections.deque[float] = collections.deque()
        self._daily = 0
        self._access_tokens: dict[str, float] = {}
        self._fault_counts: dict[int, int] = {}
        self._counters: collections.Counter[str] = collections.Counter()
        self.attendance = AttendanceStore(config.seed_contacts, config.participation_lag_s)
        # What API reads of events see: every write is noted here, reads lag by read_lag_s.
        self._versions = EventVersions(config.read_lag_s)

    # -- configuration -------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Replace config fields; a new ``seed`` re-seeds the RNG, new ``faults`` reset their counts.

        :param changes: :class:`SandboxConfig` fields.
        """
        with self._lock:
            self.config = self.config.replace(**changes)
            self.attendance.lag_s = self.config.participation_lag_s
            self._versions.lag_s = self.config.read_lag_s
            if "seed" in changes:
                self._rng = random.Random(self.config.seed)
            if "faults" in changes:
                self._fault_counts.clear()

    def add_fault(self, fault: Fault) -> None:
        """Append a fault to the configured list.

        :param fault: the fault to inject.
        """
        with self._lock:
            self.config = self.config.replace(faults=[*self.config.faults, fault])

    def reset(self) -> None:
        """Clear events, the request log, counters, rate windows and faults; re-seed the RNG."""
        with self._lock:
            self._events.clear()
            self._versions.reset()
            self._log.clear()
            self._window.clear()
            self._daily = 0
            self._fault_counts.clear()
            self._counters.clear()
            self._rng = random.Random(self.config.seed)
            self.config = self.config.replace(faults=[])
            self.attendance.reset(self.config.seed_contacts)

    # -- auth ------------------------------------------------------------------------------------

    def issue_access_token(self) -> str:
        """Issue a new OAuth access token valid for ``access_token_ttl_s`` seconds."""
        token = f"sandbox-oauth-{uuid.uuid4().hex}"
        with self._lock:
            self._access_tokens[token] = time.monotonic() + self.config.access_token_ttl_s
        return token

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired (one second ago)."""
        with self._lock:
            past = time.monotonic() - 1.0
            for token in self._access_tokens:
                self._access_tokens[token] = min(self._access_tokens[token], past)

    def check_token(self, token: str | None) -> tuple[str, int]:
        """Classify a Bearer token.

        :param token: the token, or ``None`` when no Authorization header was sent.
        :returns: ``("ok", 0)``, ``("invalid", 0)`` or ``("expired", seconds_ago)``.
        """
        if not token:
            return "invalid", 0
        with self._lock:
            if token in self.config.tokens or token in self.config.app_tokens:
                return "ok", 0
            expiry = self._access_tokens.get(token)
        if expiry is None:
            return "invalid", 0
        now = time.monotonic()
        if now >= expiry:
            return "expired", int(now - expiry)
        return "ok", 0

    def app_for_token(self, token: str | None) -> int:
        """The app a (valid) token belongs to: its ``app_tokens`` entry, else the default ``app_id``.

        :param token: the Bearer token.
        """
        with self._lock:
            if token is not None and token in self.config.app_tokens:
                return self.config.app_tokens[token]
            return self.config.app_id

    def _app(self, app: int | None) -> int:
        return self.config.app_id if app is None else app

    # -- rate limiting ---------------------------------------------------------------------------

    def count_request(self) -> RateDecision:
        """Count one authenticated data request against the rolling window and the daily limit.

        Refused (429) requests are counted too: the window holds every request the app made, as
        HubSpot bills the attempt, so a client that hammers during a 429 stays limited.
        """
        with self._lock:
            cfg = self.config
            now = time.monotonic()
            while self._window and self._window[0] <= now - cfg.rate_window_s:
                self._window.popleft()
            policy: str | None = None
            if cfg.daily_limit is not None and self._daily >= cfg.daily_limit:
                policy = "DAILY"
            elif cfg.rate_limit is not None and len(self._window) >= cfg.rate_limit:
                policy = "TEN_SECONDLY_ROLLING"
            self._window.append(now)
            self._daily += 1
            if policy is not None:
                self._counters["rate_limited"] += 1
            limit = cfg.rate_limit if cfg.rate_limit is not None else self.UNLIMITED_MAX
            remaining = max(0, limit - len(self._window))
            headers = {
                "X-HubSpot-RateLimit-Max": str(limit),
                "X-HubSpot-RateLimit-Remaining": str(remaining),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(cfg.rate_window_s * 1000)),
            }
            if cfg.daily_limit is not None:
                headers["X-HubSpot-RateLimit-Daily"] = str(cfg.daily_limit)
                headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, cfg.daily_limit - self._daily))
            if policy is not None and cfg.retry_after_header:
                wait = cfg.rate_window_s
                if policy == "TEN_SECONDLY_ROLLING" and self._window:
                    wait = max(0.0, self._window[0] + cfg.rate_window_s - now)
                headers["Retry-After"] = str(max(1, round(wait + 0.4999)))
            return RateDecision(policy, headers)

    def rate_headers(self) -> dict[str, str]:
        """The rate-limit headers without counting a request (for unauthenticated answers)."""
        with self._lock:
            cfg = self.config
            now = time.monotonic()
            used = sum(1 for t in self._window if t > now - cfg.rate_window_s)
            limit = cfg.rate_limit if cfg.rate_limit is not None else self.UNLIMITED_MAX
            return {
                "X-HubSpot-RateLimit-Max": str(limit),
                "X-HubSpot-RateLimit-Remaining": str(max(0, limit - used)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(cfg.rate_window_s * 1000)),
            }

    # -- randomness and faults -------------------------------------------------------------------

    def draw_latency(self) -> float:
        """A latency drawn uniformly from ``latency_s`` (0 when the range is ``(0, 0)``)."""
        with self._lock:
            low, high = self.config.latency_s
            if high <= 0:
                return 0.0
            return self._rng.uniform(low, high)

    def pick_fault(self, route: str) -> Fault | None:
        """The first configured fault that matches ``route``, has injections left and wins its draw.

        :param route: ``upsert`` or ``read`` (``other`` data routes match only ``any``).
        """
        with self._lock:
            for index, fault in enumerate(self.config.faults):
                if fault.route not in ("any", route):
                    continue
                used = self._fault_counts.get(index, 0)
                if fault.times is not None and used >= fault.times:
                    continue
                if fault.probability >= 1.0 or self._rng.random() < fault.probability:
                    self._fault_counts[index] = used + 1
                    self._counters["faults_injected"] += 1
                    return fault
            return None

    # -- events ----------------------------------------------------------------------------------

    def apply_upsert(self, item: dict[str, Any], *, app: int | None = None) -> dict[str, Any]:
        """Create or update one (already validated) event of ``app``; return the stored record.

        Fields absent from ``item`` keep their stored value; custom properties merge by name.

        :param item: a valid upsert input.
        :param app: the calling app (default: ``config.app_id``).
        """
        stamp = now_iso()
        with self._lock:
            app_id = self._app(app)
            key = (app_id, item["externalAccountId"], item["externalEventId"])
            current = self._events.get(key)
            if current is None:
                current = {
                    "objectId": str(self._next_object_id),
                    "createdAt": stamp,
                    "customProperties": {},
                    "appId": app_id,
                }
                self._next_object_id += 1
                self._events[key] = current
                self._counters["creates"] += 1
            else:
                self._counters["updates"] += 1
            self._counters["applied_upserts"] += 1
            for name, value in item.items():
                if name == "customProperties":
                    stamp_ms = int(time.time() * 1000)
                    for prop in value:
                        current["customProperties"][prop["name"]] = (prop["value"], stamp_ms, API_SOURCE)
                elif name in ("startDateTime", "endDateTime"):
                    parsed = parse_rfc3339(value)
                    current[name] = now_iso() if parsed is None else iso_utc(parsed)
                else:
                    current[name] = value
            current["updatedAt"] = stamp
            self._versions.note(key, current)
            return copy_record(current)

    def get(self, key: EventKey, *, app: int | None = None) -> dict[str, Any] | None:
        """The stored record of one event of ``app``, or ``None``.

        :param key: ``(externalAccountId, externalEventId)``.
        :param app: the app that created it (default: ``config.app_id``).
        """
        with self._lock:
            current = self._events.get((self._app(app), *key))
            return (
                None if current is None else dict(current, customProperties=dict(current["customProperties"]))
            )

    def delete(self, key: EventKey, *, app: int | None = None) -> bool:
        """Delete one event of ``app``; ``False`` when it did not exist (for that app).

        :param key: ``(externalAccountId, externalEventId)``.
        :param app: the app that created it (default: ``config.app_id``).
        """
        with self._lock:
            app_key = (self._app(app), *key)
            existed = self._events.pop(app_key, None) is not None
            if existed:
                self._counters["deletes"] += 1
                self._versions.note(app_key, None)
            return existed

    def update_event(
        self, key: EventKey, changes: dict[str, Any], *, app: int | None = None
    ) -> dict[str, Any] | None:
        """Set fields of one stored event (e.g. ``/complete``); ``None`` when it does not exist.

        :param key: ``(externalAccountId, externalEventId)``.
        :param changes: field -> already normalised value (not ``customProperties``).
        :param app: the app that created it (default: ``config.app_id``).
        """
        return self.set_lifecycle(key, changes, app=app)

    def set_lifecycle(
        self, key: EventKey, changes: dict[str, Any], *, app: int | None = None
    ) -> dict[str, Any] | None:
        """Set lifecycle fields (``eventCancelled``, ``eventCompleted``, datetimes) of one event.

        :param key: ``(externalAccountId, externalEventId)``.
        :param changes: stored field -> value (datetimes already normalised).
        :param app: the app that created it (default: ``config.app_id``).
        :returns: the updated record, or ``None`` when the app has no such event.
        """
        with self._lock:
            app_key = (self._app(app), *key)
            current = self._events.get(app_key)
            if current is None:
                return None
            current.update(changes)
            current["updatedAt"] = now_iso()
            self._versions.note(app_key, current)
            return copy_record(current)

    def all_events(self, app: int | None = None) -> list[dict[str, Any]]:
        """Every stored record (of ``app`` only, when given), ordered by objectId.

        :param app: restrict to the events this app created.
        """
        with self._lock:
            records = [
                dict(r, customProperties=dict(r["customProperties"]))
                for (owner, _a, _e), r in self._events.items()
                if app is None or owner == app
            ]
        return sorted(records, key=lambda r: int(r["objectId"]))

    def read(self, key: EventKey, *, app: int | None = None) -> dict[str, Any] | None:
        """One event of ``app`` as an API read sees it (``read_lag_s`` ago), or ``None``.

        :param key: ``(externalAccountId, externalEventId)``.
        :param app: the app that created it (default: ``config.app_id``).
        """
        with self._lock:
            return self._versions.view((self._app(app), *key))

    def read_all(self, app: int | None = None) -> list[dict[str, Any]]:
        """Every event (of ``app`` only, when given) as API reads see them, ordered by objectId.

        :param app: restrict to the events this app created.
        """
        with self._lock:
            return self._versions.views(app)

    def edit_by_hand(
        self,
        key: EventKey,
        fields: dict[str, Any],
        properties: dict[str, str | None],
        *,
        app: int | None = None,
    ) -> dict[str, Any] | None:
        """Change an event as a user in HubSpot's UI would (see :mod:`.handedit`).

        :param key: ``(externalAccountId, externalEventId)``.
        :param fields: normalised field changes (``None`` removes the field).
        :param properties: custom property changes (``None`` clears the property).
        :param app: the app that created it (default: ``config.app_id``).
        :returns: the updated record, or ``None`` when there is no such event.
        """
        with self._lock:
            app_key = (self._app(app), *key)
            current = self._events.get(app_key)
            if current is None:
                return None
            for name, value in fields.items():
                if value is None:
                    current.pop(name, None)
                else:
                    current[name] = value
            stamp_ms = int(time.time() * 1000)
            for name, prop in properties.items():
                if prop is None:
                    current["customProperties"].pop(name, None)
                else:
                    current["customProperties"][name] = (prop, stamp_ms, UI_SOURCE)
            current["updatedAt"] = _later_stamp(current["updatedAt"])
            self._counters["hand_edits"] += 1
            self._versions.note(app_key, current)
            return copy_record(current)

    def delete_by_hand(self, key: EventKey, *, app: int | None = None) -> bool:
        """Delete an event as a user in HubSpot's UI would; ``False`` when there is no such event.

        :param key: ``(externalAccountId, externalEventId)``.
        :param app: the app that created it (default: ``config.app_id``).
        """
        with self._lock:
            app_key = (self._app(app), *key)
            if self._events.pop(app_key, None) is None:
                return False
            self._counters["hand_deletes"] += 1
            self._versions.note(app_key, None)
            return True

    def bump(self, counter: str, amount: int = 1) -> None:
        """Increase a named counter reported by :meth:`stats`.

        :param counter: counter name.
        :param amount: increment.
        """
        with self._lock:
            self._counters[counter] += amount

    # -- request log -----------------------------------------------------------------------------

    def record(self, entry: RequestRecord) -> None:
        """Append one entry to the request log.

        :param entry: the record.
        """
        with self._lock:
            self._log.append(entry)

    def requests(self) -> list[RequestRecord]:
        """A copy of the request log."""
        with self._lock:
            return list(self._log)

    def stats(self) -> dict[str, int]:
        """Counters: creates, updates, applied_upserts, requests, rate_limited, rejected_rows, ..."""
        with self._lock:
            out = {
                name: self._counters[name]
                for name in (
                    "creates",
                    "updates",
                    "applied_upserts",
                    "rejected_rows",
                    "deletes",
                    "cancels",
                    "completes",
                    "rate_limited",
                    "faults_injected",
                    "token_requests",
                    "dropped_custom_properties",
                    "hand_edits",
                    "hand_deletes",
                )
            }
            out["requests"] = len(self._log)
            out["upsert_requests"] = sum(1 for r in self._log if r.path.endswith("/events/upsert"))
            out["events"] = len(self._events)
            out["rejected_attendance_rows"] = self._counters["rejected_attendance_rows"]
            out["attendance_requests"] = sum(1 for r in self._log if "/attendance/" in r.path)
            out.update(self.attendance.stats())
            return out


def _later_stamp(previous: str) -> str:
    """Now as HubSpot writes it, at least one millisecond after ``previous`` (same format): an edit
    right after a write must still move ``updatedAt``, which is how a reader tells it changed."""
    stamp = now_iso()
    if stamp > previous:
        return stamp
    parsed = parse_rfc3339(previous)
    return stamp if parsed is None else iso_utc(parsed + dt.timedelta(milliseconds=1))

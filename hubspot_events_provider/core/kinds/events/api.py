"""Delete, cancel and complete marketing events by their external ids (Airflow-free).

Every call goes through the client's
:meth:`~hubspot_events_provider.core.http.protocol.HubSpotApi.request`, so it shares its rate
limiter, retries and typed errors.

Deleting. ``POST /events/delete`` deletes up to a batch of events in one request, but each input
needs the ``appId`` of the app that created the event, which only ``GET /events/search`` tells (its
results are limited to the calling app, so one search gives the appId of every event this app
created). :func:`delete_events` looks the appId up once (or takes it), sends batches, and falls back
to ``DELETE /events/{externalEventId}`` one by one when no appId can be found or HubSpot refuses a
batch (400/404). HubSpot answers the batch 202 live (the spec declares no success status) and the
single delete 204; any 2xx is success. An event already gone counts as deleted (404 on the single
delete; the batch route skips unknown events silently). Errors no retry can heal (401, 403, the
daily limit) are raised; other failures are counted per event and reported.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotValidationError,
)
from hubspot_events_provider.core.http.protocol import HubSpotApi

__all__ = [
    "DEFAULT_DELETE_BATCH_SIZE",
    "DeleteOutcome",
    "cancel_event",
    "complete_event",
    "delete_events",
    "event_path",
    "find_app_id",
]

EventKey = tuple[str, str]
DEFAULT_DELETE_BATCH_SIZE = 100
MAX_SAMPLE_ERRORS = 20
_LOOKUPS_PER_BATCH = 3
_FATAL = (HubSpotAuthError, HubSpotMissingScopesError, HubSpotDailyLimitError)


@dataclass
class DeleteOutcome:
    """Counts of one :func:`delete_events` call (memory stays flat: events are reported through the
    callbacks, only up to 20 error samples are kept).

    :param deleted: events HubSpot accepted to delete (batch 2xx or single 204); the batch route does
        not say which of its events were already gone, so those count here too.
    :param already_gone: events the single delete found gone (404): they count as deleted.
    :param failed: events whose delete failed after the client's retries.
    :param requests: API calls made, searches included (the client's own statistics count retries).
    :param batches: ``POST /events/delete`` requests that succeeded.
    :param singles: ``DELETE /events/{id}`` requests made.
    :param app_id: the appId used for batches (``None`` when every delete went one by one).
    :param sample_errors: ``{"externalAccountId", "externalEventId", "status", "category", "message"}``.
    """

    deleted: int = 0
    already_gone: int = 0
    failed: int = 0
    requests: int = 0
    batches: int = 0
    singles: int = 0
    app_id: int | None = None
    sample_errors: list[dict[str, object]] = field(default_factory=list)

    @property
    def gone(self) -> int:
        """Events that are no longer in HubSpot: ``deleted + already_gone``."""
        return self.deleted + self.already_gone


def event_path(client: HubSpotApi, external_event_id: str, suffix: str = "") -> str:
    """``<prefix>/events/{externalEventId}<suffix>``, the id URL-quoted (``/cancel``, ``/complete``)."""
    return f"{client.config.api_prefix}/events/{quote(external_event_id, safe='')}{suffix}"


def find_app_id(client: HubSpotApi, keys: Iterable[EventKey], *, max_lookups: int = 5) -> int | None:
    """The appId of this app's events, from ``GET /events/search`` (limited to the calling app).

    :param client: the HubSpot client.
    :param keys: candidate events; searched in order until one is found.
    :param max_lookups: most searches to make.
    :returns: the appId, or ``None`` when none of the first ``max_lookups`` keys was found.
    """
    for account, event_id in itertools.islice(keys, max_lookups):
        body = client.request("GET", f"{client.config.api_prefix}/events/search", params={"q": event_id}).body
        for result in body.get("results") or []:
            if not isinstance(result, dict) or result.get("externalAccountId") != account:
                continue
            app_id = result.get("appId")
            if isinstance(app_id, int) and not isinstance(app_id, bool):
                return app_id
    return None


def delete_events(
    client: HubSpotApi,
    keys: Iterable[EventKey],
    *,
    app_id: int | None = None,
    batch_size: int = DEFAULT_DELETE_BATCH_SIZE,
    on_gone: Callable[[EventKey], None] | None = None,
    on_failed: Callable[[EventKey, HubSpotError], None] | None = None,
    verify_app_id: bool = True,
) -> DeleteOutcome:
    """Delete events by external ids: batches with the appId, one by one as the fallback.

    :param client: the HubSpot client.
    :param keys: ``(externalAccountId, externalEventId)`` to delete (streamed).
    :param app_id: this app's id from an earlier search (e.g. ``SyncState.app_id``). It is still checked
        with a search on the first batches, and a search result wins: ``POST /events/delete`` skips
        inputs with a wrong appId silently, so until a search confirms it the events go one by one.
    :param batch_size: inputs per ``POST /events/delete`` (1..100).
    :param on_gone: called for each event that is gone (deleted now or already gone).
    :param on_failed: called for each event whose delete failed.
    :param verify_app_id: search for (or check) the appId on the first batches. ``False``: the caller
        already checked ``app_id`` this run (``None`` then means one by one), so no search is made.
    :raises HubSpotAuthError, HubSpotMissingScopesError, HubSpotDailyLimitError: nothing else can work.
    :raises ValueError: on a ``batch_size`` out of range.
    """
    if not 1 <= batch_size <= 100:
        raise ValueError(f"batch_size must be between 1 and 100, got {batch_size}")
    outcome = _Run(client, DeleteOutcome(app_id=app_id), on_gone, on_failed)
    outcome.verified = not verify_app_id
    for batch in _chunks(keys, batch_size):
        if not outcome.verified and outcome.lookups_left > 0:
            outcome.look_up_app_id(batch)
        # A batch needs an appId a search confirmed: HubSpot skips inputs with a wrong one silently,
        # and a search may not see events written moments ago (its read lag), so an unconfirmed id
        # deletes one by one instead.
        if outcome.result.app_id is None or not outcome.verified or not outcome.send_batch(batch):
            for key in batch:
                outcome.delete_one(key)
    return outcome.result


def _chunks(keys: Iterable[EventKey], size: int) -> Iterator[list[EventKey]]:
    iterator = iter(keys)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class _Run:
    """State of one :func:`delete_events` call."""

    def __init__(
        self,
        client: HubSpotApi,
        result: DeleteOutcome,
        on_gone: Callable[[EventKey], None] | None,
        on_failed: Callable[[EventKey, HubSpotError], None] | None,
    ) -> None:
        self.client = client
        self.result = result
        self.on_gone = on_gone
        self.on_failed = on_failed
        # Searches for the appId: on the first batches only (their events may all be gone already);
        # after that, deleting one by one costs no more than searching would.
        self.lookups_left = 3
        self.verified = False

    def look_up_app_id(self, batch: Sequence[EventKey]) -> None:
        """Search the first keys of ``batch`` for the appId; a found one replaces a given one."""
        self.lookups_left -= 1
        for key in itertools.islice(batch, _LOOKUPS_PER_BATCH):
            self.result.requests += 1
            try:
                found = find_app_id(self.client, [key], max_lookups=1)
            except _FATAL:
                raise
            except HubSpotError:
                # Search is unavailable right now: go one by one (the deletes report any trouble).
                return
            if found is not None:
                self.result.app_id = found
                self.verified = True
                return

    def send_batch(self, batch: Sequence[EventKey]) -> bool:
        """``POST /events/delete``; ``False`` when HubSpot refused it and singles should be tried."""
        inputs = [
            {"appId": self.result.app_id, "externalAccountId": a, "externalEventId": e} for a, e in batch
        ]
        try:
            self._request("POST", f"{self.client.config.api_prefix}/events/delete", json={"inputs": inputs})
        except _FATAL:
            raise
        except (HubSpotValidationError, HubSpotNotFoundError):
            return False
        except HubSpotError as exc:
            for key in batch:
                self._failed(key, exc)
            return True
        self.result.batches += 1
        self.result.deleted += len(batch)
        if self.on_gone is not None:
            for key in batch:
                self.on_gone(key)
        return True

    def delete_one(self, key: EventKey) -> None:
        """``DELETE /events/{externalEventId}``: 2xx deleted, 404 already gone."""
        account, event_id = key
        self.result.singles += 1
        try:
            self._request("DELETE", event_path(self.client, event_id), params={"externalAccountId": account})
        except _FATAL:
            raise
        except HubSpotNotFoundError:
            self.result.already_gone += 1
        except HubSpotError as exc:
            self._failed(key, exc)
            return
        else:
            self.result.deleted += 1
        if self.on_gone is not None:
            self.on_gone(key)

    def _request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> None:
        self.result.requests += 1
        self.client.request(method, path, params=params, json=json)

    def _failed(self, key: EventKey, exc: HubSpotError) -> None:
        self.result.failed += 1
        if len(self.result.sample_errors) < MAX_SAMPLE_ERRORS:
            self.result.sample_errors.append(
                {
                    "externalAccountId": key[0],
                    "externalEventId": key[1],
                    "status": exc.status,
                    "category": exc.category,
                    "message": exc.message,
                }
            )
        if self.on_failed is not None:
            self.on_failed(key, exc)


def cancel_event(client: HubSpotApi, key: EventKey) -> Literal["cancelled", "not_found"]:
    """Mark an event cancelled (``POST /events/{externalEventId}/cancel``).

    :param client: the HubSpot client.
    :param key: ``(externalAccountId, externalEventId)``.
    :returns: ``"cancelled"``, or ``"not_found"`` when this app has no such event.
    :raises HubSpotError: any other failure, after the client's retries.
    """
    account, event_id = key
    try:
        client.request("POST", event_path(client, event_id, "/cancel"), params={"externalAccountId": account})
    except HubSpotNotFoundError:
        return "not_found"
    return "cancelled"


def complete_event(
    client: HubSpotApi,
    key: EventKey,
    start: str | dt.datetime,
    end: str | dt.datetime,
    *,
    on_not_found: Callable[[HubSpotNotFoundError], None] | None = None,
) -> Literal["completed", "not_found"]:
    """Mark an event completed (``POST /events/{externalEventId}/complete``), which also makes
    HubSpot compute attendance durations and no-shows. Call it once per event, after its
    attendance is recorded (the sync run and the attendance operator do).

    :param client: the HubSpot client.
    :param key: ``(externalAccountId, externalEventId)``.
    :param start: the event's start: an ISO 8601 text with an offset, or an aware datetime.
    :param end: the event's end, likewise.
    :param on_not_found: given HubSpot's 404 before ``"not_found"`` is returned (to report its words).
    :returns: ``"completed"``, or ``"not_found"`` when this app has no such event.
    :raises ValueError: on a naive datetime.
    :raises HubSpotError: any other failure, after the client's retries.
    """
    account, event_id = key
    body = {"startDateTime": _iso(start, "start"), "endDateTime": _iso(end, "end")}
    try:
        client.request(
            "POST",
            event_path(client, event_id, "/complete"),
            params={"externalAccountId": account},
            json=body,
        )
    except HubSpotNotFoundError as err:
        if on_not_found is not None:
            on_not_found(err)
        return "not_found"
    return "completed"


def _iso(value: str | dt.datetime, name: str) -> str:
    """An aware datetime as UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ``; text passes as is."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"complete_event(): {name} must be timezone-aware, got {value.isoformat()}")
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"

"""Delete marketing events named by source rows: the delete write kind over the write pipeline.

A row names one event by ``externalAccountId`` and ``externalEventId`` (e.g. a tombstone table).
Deletes are a write kind like upserts (:mod:`~hubspot_events_provider.core.engine.run` reads,
validates, de-duplicates, batches, sends in parallel and reports): a batch goes to
``POST /events/delete`` with this app's ``appId`` (looked up once with ``GET /events/search``), or
one by one with ``DELETE /events/{id}`` when no appId can be found or HubSpot refuses the batch
(:func:`~hubspot_events_provider.core.kinds.events.api.delete_events`). An event already gone counts
as deleted (a delete is idempotent by key, so a rerun is safe), HubSpot's 202 and 204 are both
success, and a delete that failed is a ``failed`` row in the report, with its reason.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from hubspot_events_provider.core.engine.contract import (
    Answer,
    Refusal,
    Route,
    RowMapper,
    Wording,
    WriteKindBase,
)
from hubspot_events_provider.core.engine.report import WriteReport
from hubspot_events_provider.core.engine.run import RunExtras, WriteOptions, run_writes
from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
    UnmappedFieldsError,
)
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.kinds.events.api import delete_events, find_app_id
from hubspot_events_provider.core.kinds.events.keys import EVENT_KEY_FIELDS, event_key_from_context
from hubspot_events_provider.core.kinds.events.mapper import (
    MappedRow,
    RowError,
    suggest_field,
)
from hubspot_events_provider.core.rows.identity import Key
from hubspot_events_provider.core.rows.mapping import missing_field, not_an_object, unmapped_among
from hubspot_events_provider.core.rows.normalize import ValueProblem, to_string
from hubspot_events_provider.core.rows.sources import SourceRow

__all__ = ["DeleteKind", "EventKeyMapper", "run_delete"]

_WORDS = Wording(
    noun="events", verb="delete", done="deleted", rerun="an event already gone counts as deleted"
)
_ONE_ROUTE = Route()
_FATAL = (HubSpotAuthError, HubSpotMissingScopesError, HubSpotDailyLimitError)
_APP_ID_SEARCHES = 3


class EventKeyMapper:
    """Source rows -> the two external ids of the event to delete.

    :param field_map: source key -> ``externalAccountId`` or ``externalEventId``.
    :param defaults: values for ids a row lacks, e.g. ``{"externalAccountId": "acme"}``.
    :param ignore_fields: other source keys to leave out on purpose.
    :param ignore_unmapped: ignore every other source key (e.g. a tombstone table's ``deleted_at``).
    :raises ValueError: a field_map target or default that is not one of the two ids.
    """

    def __init__(
        self,
        *,
        field_map: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        ignore_fields: Iterable[str] | None = None,
        ignore_unmapped: bool = False,
    ) -> None:
        field_map = dict(field_map or {})
        bad = sorted({*field_map.values(), *(defaults or {})} - set(EVENT_KEY_FIELDS))
        if bad:
            raise ValueError(f"deletes read only externalAccountId and externalEventId; got {bad}")
        self._sources = {
            f: tuple([s for s, t in field_map.items() if t == f] + ([f] if f not in field_map else []))
            for f in EVENT_KEY_FIELDS
        }
        self._defaults = {k: str(v) for k, v in (defaults or {}).items() if v not in (None, "")}
        self._known = frozenset({s for sources in self._sources.values() for s in sources} | set(field_map))
        self._known |= frozenset(ignore_fields or ())
        self.ignore_unmapped = ignore_unmapped

    def unmapped_keys(self, keys: Iterable[Any]) -> set[str]:
        """Source keys that are neither an id nor ignored."""
        return unmapped_among(self._known, keys, self.ignore_unmapped)

    def unmapped_error(
        self, keys: Iterable[Any], *, source: str | None = None, line: int | None = None
    ) -> Exception:
        """The error refusing unmapped keys (with did-you-mean hints)."""
        names = sorted({str(k) for k in keys})
        hints = {k: s for k in names if (s := suggest_field(k)) in EVENT_KEY_FIELDS}
        return UnmappedFieldsError(names, source=source, line=line, suggestions=hints)

    def map_row(self, row: Any) -> MappedRow:
        """The row's ids as the payload, or errors."""
        if not isinstance(row, Mapping):
            return MappedRow(None, [not_an_object(row)], None)
        payload: dict[str, str] = {}
        errors: list[RowError] = []
        for field, sources in self._sources.items():
            value: str | None = None
            for src in sources:
                try:
                    value = to_string(row.get(src))
                except ValueProblem as exc:
                    errors.append(RowError(field, exc.category, f"{field}: {exc.message}"))
                    break
                if value:
                    break
            value = value or self._defaults.get(field)
            if value:
                payload[field] = value
            elif not any(e.field == field for e in errors):
                errors.append(missing_field(field, sources))
        if errors:
            return MappedRow(None, errors, None)
        key = (payload["externalAccountId"], payload["externalEventId"])
        return MappedRow(payload, [], key)


@dataclass(frozen=True)
class _Answer:
    body: dict[str, Any]


class DeleteKind(WriteKindBase):
    """Events deleted by external ids (batch with the appId, single deletes as the fallback).

    :param mapper: maps source rows to the two ids.
    :param app_id: this app's id, if known (otherwise found with one search on the first batches).
    """

    key_fields = EVENT_KEY_FIELDS
    words = _WORDS

    def __init__(self, mapper: EventKeyMapper, *, app_id: int | None = None) -> None:
        self._mapper = mapper
        self._app_id = app_id
        self._searches_left = 0 if app_id is not None else _APP_ID_SEARCHES
        self._lock = threading.Lock()

    @property
    def mapper(self) -> RowMapper:
        """The id mapper."""
        return self._mapper

    @property
    def app_id(self) -> int | None:
        """The appId used for batches (``None`` while unknown: deletes go one by one)."""
        return self._app_id

    def route(self, key: Key, payload: Mapping[str, Any]) -> Route:
        """Every delete goes to the one batch route."""
        return _ONE_ROUTE

    def send(self, client: HubSpotApi, group: Key, payloads: Sequence[Mapping[str, Any]]) -> Answer:
        """Delete one batch; failures come back as per-row errors naming their event."""
        keys = [(str(p["externalAccountId"]), str(p["externalEventId"])) for p in payloads]
        app_id = self._look_up_app_id(client, keys)
        failed: list[dict[str, Any]] = []

        def on_failed(key: tuple[str, str], exc: HubSpotError) -> None:
            context = {"externalAccountId": [key[0]], "externalEventId": [key[1]]}
            failed.append({"category": exc.category, "message": exc.message, "context": context})

        delete_events(client, keys, app_id=app_id, verify_app_id=False, on_failed=on_failed)
        return _Answer({"status": "COMPLETE", "results": [], "errors": failed, "numErrors": len(failed)})

    def _look_up_app_id(self, client: HubSpotApi, keys: Sequence[tuple[str, str]]) -> int | None:
        """This app's id from a search on the first batches' events (they may all be gone already)."""
        with self._lock:
            if self._app_id is None and self._searches_left > 0:
                self._searches_left -= 1
                try:
                    self._app_id = find_app_id(client, keys, max_lookups=_APP_ID_SEARCHES)
                except _FATAL:
                    raise
                except HubSpotError:
                    pass  # search unavailable now: these go one by one, the next batch searches again
            return self._app_id

    def key_from_context(self, context: Mapping[str, Any]) -> Key | None:
        """A failed delete names its event by its two external ids."""
        return event_key_from_context(context)

    def object_id(self, result: Mapping[str, Any]) -> str | None:
        """Deletes return no object ids."""
        return None

    def refuse_request(self, error: HubSpotError, group: Key) -> Refusal | None:
        """Per-event failures are reported by ``send``; anything raised fails the run."""
        return None


def run_delete(
    rows: Iterable[SourceRow],
    mapper: EventKeyMapper,
    client: HubSpotApi | None,
    report: WriteReport,
    *,
    options: WriteOptions,
    app_id: int | None = None,
    **extras: Unpack[RunExtras],
) -> WriteReport:
    """Delete the events ``rows`` name; every row ends ``upserted`` (deleted or already gone),
    ``rejected``, ``failed`` or ``superseded`` in ``report`` (:func:`run_writes` with :class:`DeleteKind`).

    :param app_id: this app's id, if known (saves the search).
    :raises InputError: bad input, raised before anything is sent.
    """
    return run_writes(rows, DeleteKind(mapper, app_id=app_id), client, report, options=options, **extras)

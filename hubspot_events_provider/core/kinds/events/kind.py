"""Upsert marketing events: the events write kind, and :func:`run_upsert` over the write pipeline.

Events are the first kind the pipeline (:mod:`~hubspot_events_provider.core.engine.run`) carries:
one row is one event, its key is ``(externalAccountId, externalEventId)``, every row goes to the
same endpoint (``POST /events/upsert``, one group, one phase), a per-row error names its row by
``inputIndex`` or by the two external ids, and the upsert answers each event with its ``objectId``.
Every other step (validation, de-duplication, batching, parallel sending, splitting batches HubSpot
refused whole, the report) is the pipeline's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
from hubspot_events_provider.core.engine.run import MAX_BATCH_SIZE, RunExtras, WriteOptions, run_writes
from hubspot_events_provider.core.errors import HubSpotError
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.kinds.events.keys import EVENT_KEY_FIELDS, event_key_from_context
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.identity import Key
from hubspot_events_provider.core.rows.sources import SourceRow

__all__ = ["MAX_BATCH_SIZE", "EventKind", "UpsertOptions", "run_upsert"]

UpsertOptions = WriteOptions
"""How to run an upsert (the pipeline's :class:`~hubspot_events_provider.core.engine.run.WriteOptions`)."""

_ONE_ROUTE = Route()
_WORDS = Wording(noun="events", verb="upsert", done="upserted", rerun="upsert is idempotent by external ids")


class EventKind(WriteKindBase):
    """Marketing events upserted through ``POST /events/upsert``.

    :param mapper: maps source rows to HubSpot event inputs.
    """

    key_fields = EVENT_KEY_FIELDS
    words = _WORDS
    #: one endpoint, no phases, idempotent by key: full batches may leave while the input is read
    overlap_sends = True

    def __init__(self, mapper: EventMapper) -> None:
        self._mapper = mapper

    @property
    def mapper(self) -> RowMapper:
        """The event mapper."""
        return self._mapper

    def route(self, key: Key, payload: Mapping[str, Any]) -> Route:
        """Every event goes to the one upsert endpoint."""
        return _ONE_ROUTE

    def send(self, client: HubSpotApi, group: Key, payloads: Sequence[Mapping[str, Any]]) -> Answer:
        """Upsert one batch of events."""
        response: Answer = client.upsert_events(payloads)
        return response

    def key_from_context(self, context: Mapping[str, Any]) -> Key | None:
        """An upsert error names its event by its two external ids."""
        return event_key_from_context(context)

    def object_id(self, result: Mapping[str, Any]) -> str | None:
        """The event's ``objectId`` (older answers call it ``id``)."""
        value = result.get("objectId", result.get("id"))
        return str(value) if value is not None else None

    def refuse_request(self, error: HubSpotError, group: Key) -> Refusal | None:
        """No request-level error is permanent for an upsert's rows alone: a 400 is split, the
        rest fails the run."""
        return None


def run_upsert(
    rows: Iterable[SourceRow],
    mapper: EventMapper,
    client: HubSpotApi | None,
    report: WriteReport,
    *,
    options: UpsertOptions,
    **extras: Unpack[RunExtras],
) -> WriteReport:
    """Upsert ``rows`` and account for every one of them in ``report``: :func:`run_writes` with the
    events kind built on ``mapper`` (the other parameters are :func:`run_writes`'s).

    :param mapper: turns a source row into a HubSpot event input, or errors.
    :raises InputError: bad input. With ``options.overlap`` (the default) only an error the first
        row shows (unmapped columns of a CSV header or SQL cursor) is sure to come before anything
        is sent; a later bad line or new unmapped key stops the run with the batches already sent
        accounted in ``report`` (see :func:`run_writes`). ``overlap=False`` reads everything first.
    """
    return run_writes(rows, EventKind(mapper), client, report, options=options, **extras)

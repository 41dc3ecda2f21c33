"""Record marketing-event attendance: the participations write kind, and :func:`run_attendance`.

Participations ride the write pipeline (:mod:`~hubspot_events_provider.core.engine.run`) like events:

* a row's key is :func:`~hubspot_events_provider.core.kinds.attendance.mapper.dedup_key` ``(account, event,
  contact, state)``: a later row for the same contact, event and state supersedes an earlier one;
* its route groups rows by :func:`~hubspot_events_provider.core.kinds.attendance.mapper.group_key` ``(account,
  event, state, "email" | "vid")`` (one URL per group) and orders the phases ``register`` (0) <
  ``attend`` (1) < ``cancel`` (2): HubSpot keeps the state that arrived last;
* one request is ``POST …/attendance/{event}/{state}/email-create`` (or ``/create`` for ``vid``
  rows); HubSpot names a refused row by ``inputIndex`` or by its ``email``/``vid``;
* a whole-request ``404`` (an event HubSpot does not know, or one another app created) fails that
  request's rows with ``EVENT_NOT_FOUND`` and a reason; the run goes on.

Attribution, splitting, parallel sending and the report are the pipeline's
(:func:`~hubspot_events_provider.core.engine.batching.send_batch`).
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
from hubspot_events_provider.core.engine.run import RunExtras, WriteOptions, run_writes
from hubspot_events_provider.core.errors import HubSpotError, HubSpotNotFoundError
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.kinds.attendance.api import EVENT_NOT_FOUND, record_attendance
from hubspot_events_provider.core.kinds.attendance.mapper import (
    STATE_ORDER,
    AttendanceMapper,
    group_key,
    hubspot_input,
)
from hubspot_events_provider.core.rows.identity import Key, WriteItem
from hubspot_events_provider.core.rows.sources import SourceRow

__all__ = ["ATTENDANCE_KEY_FIELDS", "AttendanceKind", "contact_of", "run_attendance"]

#: Names of the key's parts (results file, sample error ids): the contact is ``email:<address>``
#: (case-folded) or ``vid:<id>``.
ATTENDANCE_KEY_FIELDS = ("externalAccountId", "externalEventId", "contact", "subscriberState")

_WORDS = Wording(
    noun="participations",
    verb="record",
    done="recorded",
    rerun="recording a participation is idempotent for the same contact, state and time",
)


def contact_of(context: Mapping[str, Any]) -> str | None:
    """``email:<case-folded>`` or ``vid:<id>`` of an error context (values may be one-element
    lists of strings, as HubSpot's contexts are), or of a payload.

    :param context: an error ``context``, a result or a payload.
    """
    email, vid = _one(context.get("email")), _one(context.get("vid"))
    if isinstance(email, str) and email:
        return f"email:{email.casefold()}"
    if vid is not None and not isinstance(vid, bool) and str(vid).strip():
        return f"vid:{str(vid).strip()}"
    return None


def _one(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


class AttendanceKind(WriteKindBase):
    """Participations recorded through the attendance ``email-create`` / ``create`` routes.

    :param mapper: maps source rows to normalised participations.
    """

    key_fields = ATTENDANCE_KEY_FIELDS
    words = _WORDS

    def __init__(self, mapper: AttendanceMapper) -> None:
        self._mapper = mapper

    @property
    def mapper(self) -> RowMapper:
        """The attendance mapper."""
        return self._mapper

    def route(self, key: Key, payload: Mapping[str, Any]) -> Route:
        """One group per (account, event, state, email | vid); phases register < attend < cancel."""
        group = group_key(payload)
        return Route(group=group, phase=STATE_ORDER[group[2]])

    def send(self, client: HubSpotApi, group: Key, payloads: Sequence[Mapping[str, Any]]) -> Answer:
        """Record one request of participations (all of ``group``)."""
        account, event, state, route = group
        inputs = [hubspot_input(p) for p in payloads]
        return record_attendance(client, account, event, state, inputs, by_email=route == "email")

    def key_from_context(self, context: Mapping[str, Any]) -> Key | None:
        """An attendance error names its row by ``email`` or ``vid`` (within one request)."""
        contact = contact_of(context)
        return (contact,) if contact is not None else None

    def context_key(self, item: WriteItem) -> Key:
        """What :meth:`key_from_context` returns for this row's errors: its contact alone."""
        return (item.key[2],)

    def object_id(self, result: Mapping[str, Any]) -> str | None:
        """The contact id HubSpot recorded the participation on (a new contact's id, for email rows)."""
        vid = result.get("vid")
        return str(vid) if vid is not None and not isinstance(vid, bool) else None

    def row_category(self, category: str, field: str | None) -> str:
        """The per-row shape of an unknown event is reported as the whole-request 404 is."""
        if category == "OBJECT_NOT_FOUND" and field == "externalEventId":
            return EVENT_NOT_FOUND
        return category

    def refuse_request(self, error: HubSpotError, group: Key) -> Refusal | None:
        """A 404 for the whole request: HubSpot does not know this event (for this app)."""
        if not isinstance(error, HubSpotNotFoundError):
            return None
        account, event = group[0], group[1]
        return Refusal(
            EVENT_NOT_FOUND,
            f"HubSpot does not know marketing event {event!r} of account {account!r} for this app "
            "(create it first; external ids are visible only to the app that created the event): "
            f"{error.message}",
            "externalEventId",
        )


def run_attendance(
    rows: Iterable[SourceRow],
    mapper: AttendanceMapper,
    client: HubSpotApi | None,
    report: WriteReport,
    *,
    options: WriteOptions,
    **extras: Unpack[RunExtras],
) -> WriteReport:
    """Record ``rows`` as participations and account for every one of them in ``report``:
    :func:`run_writes` with the attendance kind built on ``mapper`` (the other parameters are
    :func:`run_writes`'s). Build ``report`` with ``key_fields=ATTENDANCE_KEY_FIELDS``.

    :param mapper: turns a source row into a normalised participation, or errors.
    :raises InputError: bad input, raised before anything is sent.
    """
    return run_writes(rows, AttendanceKind(mapper), client, report, options=options, **extras)

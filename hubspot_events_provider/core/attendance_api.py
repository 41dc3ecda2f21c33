"""HubSpot calls of the attendance sync: record one request of participations, complete an event,
read participation counters and breakdowns. Everything goes through :meth:`HubSpotClient.request`
(its limiter, retries and typed errors).

:func:`send_attendance_group` sends the rows of one request group (same account, event, state and
route; see :func:`~hubspot_events_provider.core.attendance.group_key`) and says, for every row,
whether HubSpot recorded it:

* ``200``/``207`` with ``numErrors``/``errors[]``: each error is attributed to its row by
  ``context.inputIndex``, else by the ``email`` / ``vid`` it names; rows HubSpot reports neither as
  recorded nor as failed are re-sent in halves (recording is idempotent for the same contact and
  ``interactionDateTime``) until every row is known;
* a whole-request ``400``: nothing was recorded; halves are re-sent until the bad rows are isolated;
* a whole-request ``404`` (an event HubSpot does not know, or one another app created): every row of
  the request fails with ``EVENT_NOT_FOUND`` and a reason; the run goes on.

Transient failures (5xx, transport, rate limits after the retries, auth) propagate: they fail the
task so that an Airflow retry can succeed later.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hubspot_events_provider.core.attendance import SUBSCRIBER_STATES, group_key, hubspot_input
from hubspot_events_provider.core.client import HubSpotClient, HubSpotResponse
from hubspot_events_provider.core.errors import HubSpotError, HubSpotNotFoundError, HubSpotValidationError

__all__ = [
    "EVENT_NOT_FOUND",
    "PARTICIPATION_STATES",
    "AttendanceOutcome",
    "CompletionOutcome",
    "RowFailure",
    "attendance_path",
    "complete_as_held",
    "complete_event",
    "get_participation",
    "get_participation_breakdown",
    "get_participation_counters",
    "iter_participation_breakdown",
    "record_attendance",
    "send_attendance_group",
]

#: Category of rows whose event HubSpot does not know (whole-request 404 or per-row error).
EVENT_NOT_FOUND = "EVENT_NOT_FOUND"
#: States a breakdown can be filtered on.
PARTICIPATION_STATES = ("REGISTERED", "ATTENDED", "CANCELLED", "NO_SHOW")


@dataclass(frozen=True)
class RowFailure:
    """A row HubSpot did not record.

    :param index: position of the row in the sequence given to :func:`send_attendance_group`.
    :param category: HubSpot's category (``VALIDATION_ERROR``, ``OBJECT_NOT_FOUND``...) or
        ``EVENT_NOT_FOUND``.
    :param message: HubSpot's message (or ours, for a whole-request 404).
    :param field: the field HubSpot named (``email``, ``vid``, ``properties.joinedAt``...), if any.
    """

    index: int
    category: str
    message: str
    field: str | None = None


@dataclass
class AttendanceOutcome:
    """What became of every row of one group, and what it cost.

    :param recorded: ``(index, vid)`` of every recorded row (``vid`` as HubSpot answered, when it did).
    :param failed: the rows HubSpot refused.
    :param requests: requests sent (splits included).
    :param splits: times a request was split to isolate rows.
    """

    recorded: list[tuple[int, int | None]] = field(default_factory=list)
    failed: list[RowFailure] = field(default_factory=list)
    requests: int = 0
    splits: int = 0

    def merge(self, other: AttendanceOutcome, offsets: Sequence[int]) -> None:
        """Add ``other`` (whose indexes point into a sub-sequence) with its indexes mapped back.

        :param other: the outcome of a sub-sequence.
        :param offsets: ``offsets[i]`` is the index here of the sub-sequence's row ``i``.
        """
        self.recorded.extend((offsets[i], vid) for i, vid in other.recorded)
        self.failed.extend(RowFailure(offsets[f.index], f.category, f.message, f.field) for f in other.failed)
        self.requests += other.requests
        self.splits += other.splits


# -- single calls ----------------------------------------------------------------------------------


def attendance_path(
    client: HubSpotClient, external_event_id: str, subscriber_state: str, *, by_email: bool
) -> str:
    """``<prefix>/attendance/{externalEventId}/{subscriberState}/email-create`` (or ``/create``).

    :param client: the client (its configured API version gives the prefix).
    :param external_event_id: the event's external id (URL-quoted here).
    :param subscriber_state: ``register``, ``attend`` or ``cancel``.
    :param by_email: the ``email-create`` route, else ``create`` (by contact id).
    """
    if subscriber_state not in SUBSCRIBER_STATES:
        raise ValueError(f"subscriber_state must be one of {SUBSCRIBER_STATES}, got {subscriber_state!r}")
    action = "email-create" if by_email else "create"
    event = quote(external_event_id, safe="")
    return f"{client.config.api_prefix}/attendance/{event}/{subscriber_state}/{action}"


def record_attendance(
    client: HubSpotClient,
    external_account_id: str,
    external_event_id: str,
    subscriber_state: str,
    inputs: Sequence[Mapping[str, Any]],
    *,
    by_email: bool,
) -> HubSpotResponse:
    """Send one attendance request (at most 100 inputs, already in HubSpot's input shape).

    :param client: the client.
    :param external_account_id: the event's external account id.
    :param external_event_id: the event's external id.
    :param subscriber_state: ``register``, ``attend`` or ``cancel``.
    :param inputs: ``{email, interactionDateTime, properties, contactProperties}`` or
        ``{vid, interactionDateTime, properties}`` objects.
    :param by_email: the ``email-create`` route, else ``create``.
    :raises HubSpotNotFoundError: the event is unknown to this app (whole-request 404).
    :raises HubSpotValidationError: a whole-request 400.
    """
    path = attendance_path(client, external_event_id, subscriber_state, by_email=by_email)
    return client.request(
        "POST", path, params={"externalAccountId": external_account_id}, json={"inputs": list(inputs)}
    )


def complete_event(
    client: HubSpotClient, external_account_id: str, external_event_id: str, start: str, end: str
) -> dict[str, Any]:
    """Mark an event completed, which makes HubSpot compute attendance durations
    (``POST …/events/{externalEventId}/complete``). Call it after the attendance is recorded.

    :param client: the client.
    :param external_account_id: the event's external account id.
    :param external_event_id: the event's external id.
    :param start: the event's ``startDateTime`` (RFC 3339 with an offset).
    :param end: the event's ``endDateTime``.
    :returns: the event as HubSpot answers it.
    :raises HubSpotNotFoundError: the event is unknown to this app.
    """
    path = f"{client.config.api_prefix}/events/{quote(external_event_id, safe='')}/complete"
    body = {"startDateTime": start, "endDateTime": end}
    return client.request("POST", path, params={"externalAccountId": external_account_id}, json=body).body


@dataclass(frozen=True)
class CompletionOutcome:
    """What became of one ``/complete`` call (for the run's report).

    :param external_account_id: the event's external account id.
    :param external_event_id: the event's external id.
    :param status: ``completed``, ``skipped`` (HubSpot holds no start or end for the event) or
        ``failed`` (HubSpot refused, or does not know the event).
    :param reason: why it was skipped or failed.
    :param start: the ``startDateTime`` sent.
    :param end: the ``endDateTime`` sent.
    """

    external_account_id: str
    external_event_id: str
    status: str
    reason: str | None = None
    start: str | None = None
    end: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form: ``externalAccountId``, ``externalEventId``, ``status``, ``reason``,
        ``startDateTime``, ``endDateTime``."""
        return {
            "externalAccountId": self.external_account_id,
            "externalEventId": self.external_event_id,
            "status": self.status,
            "reason": self.reason,
            "startDateTime": self.start,
            "endDateTime": self.end,
        }


def complete_as_held(
    client: HubSpotClient, external_account_id: str, external_event_id: str
) -> CompletionOutcome:
    """Complete an event with the start and end HubSpot holds for it (read first, then ``/complete``).

    A refusal (404, 400) is an outcome, not an exception; transient failures propagate.

    :param client: the client.
    :param external_account_id: the event's external account id.
    :param external_event_id: the event's external id.
    """
    ids = (external_account_id, external_event_id)
    try:
        held = client.get_event(external_event_id, external_account_id)
    except HubSpotNotFoundError as err:
        return CompletionOutcome(*ids, "failed", f"HubSpot does not know the event: {err.message}")
    start, end = held.get("startDateTime"), held.get("endDateTime")
    if not isinstance(start, str) or not isinstance(end, str) or not start or not end:
        reason = "HubSpot holds no startDateTime and endDateTime for the event; /complete needs both"
        return CompletionOutcome(*ids, "skipped", reason)
    try:
        complete_event(client, external_account_id, external_event_id, start, end)
    except (HubSpotNotFoundError, HubSpotValidationError) as err:
        return CompletionOutcome(*ids, "failed", _reason(err), start, end)
    return CompletionOutcome(*ids, "completed", None, start, end)


def _reason(err: HubSpotError) -> str:
    return f"HubSpot answered HTTP {err.status} ({err.category or 'no category'}): {err.message}"


def get_participation(
    client: HubSpotClient, external_account_id: str, external_event_id: str, contact: str | int
) -> dict[str, Any] | None:
    """One contact's participation in an event (``ParticipationBreakdown``), or ``None`` if HubSpot
    shows none yet (participation writes are processed asynchronously).

    :param client: the client.
    :param external_account_id: the event's external account id.
    :param external_event_id: the event's external id.
    :param contact: the contact's email or id.
    """
    page = get_participation_breakdown(
        client, external_account_id, external_event_id, limit=1, contact=contact
    )
    found = [r for r in page.get("results") or [] if isinstance(r, dict)]
    return found[0] if found else None


def get_participation_counters(
    client: HubSpotClient, external_account_id: str, external_event_id: str
) -> dict[str, int]:
    """``{registered, attended, cancelled, noShows}`` of one event (contacts by current state).

    :param client: the client.
    :param external_account_id: the event's external account id.
    :param external_event_id: the event's external id.
    :raises HubSpotNotFoundError: the event is unknown to this app.
    """
    body = client.request("GET", _participations_path(client, external_account_id, external_event_id)).body
    return {name: int(body.get(name) or 0) for name in ("registered", "attended", "cancelled", "noShows")}


def get_participation_breakdown(
    client: HubSpotClient,
    external_account_id: str,
    external_event_id: str,
    *,
    limit: int = 100,
    after: str | None = None,
    state: str | None = None,
    contact: str | int | None = None,
) -> dict[str, Any]:
    """One page of an event's participations (``results``, ``total``, ``paging``).

    :param client: the client.
    :param external_account_id: the event's external account id.
    :param external_event_id: the event's external id.
    :param limit: page size, 1..100.
    :param after: the cursor of the previous page's ``paging.next.after``.
    :param state: only ``REGISTERED``, ``ATTENDED``, ``CANCELLED`` or ``NO_SHOW``.
    :param contact: only this contact (email or id).
    """
    if state is not None and state not in PARTICIPATION_STATES:
        raise ValueError(f"state must be one of {PARTICIPATION_STATES}, got {state!r}")
    params: dict[str, Any] = {"limit": limit}
    if after:
        params["after"] = after
    if state:
        params["state"] = state
    if contact is not None:
        params["contactIdentifier"] = str(contact)
    path = _participations_path(client, external_account_id, external_event_id) + "/breakdown"
    return client.request("GET", path, params=params).body


def iter_participation_breakdown(
    client: HubSpotClient,
    external_account_id: str,
    external_event_id: str,
    *,
    state: str | None = None,
    contact: str | int | None = None,
    page_size: int = 100,
) -> Iterator[dict[str, Any]]:
    """Every participation of an event (``ParticipationBreakdown`` objects), page after page.

    :param client: the client.
    :param external_account_id: the event's external account id.
    :param external_event_id: the event's external id.
    :param state: only this state.
    :param contact: only this contact (email or id).
    :param page_size: page size, 1..100.
    """
    after: str | None = None
    while True:
        page = get_participation_breakdown(
            client,
            external_account_id,
            external_event_id,
            limit=page_size,
            after=after,
            state=state,
            contact=contact,
        )
        yield from (r for r in page.get("results") or [] if isinstance(r, dict))
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return


def _participations_path(client: HubSpotClient, account: str, event: str) -> str:
    return f"{client.config.api_prefix}/participations/{quote(account, safe='')}/{quote(event, safe='')}"


# -- one group, row by row -------------------------------------------------------------------------


def send_attendance_group(client: HubSpotClient, payloads: Sequence[Mapping[str, Any]]) -> AttendanceOutcome:
    """Record the rows of one request group and account for each; split when HubSpot does not say.

    :param client: the client.
    :param payloads: normalised payloads (``AttendanceMapper``) sharing one ``group_key``, at most 100.
    :raises ValueError: the payloads belong to different groups, or there are more than 100.
    """
    outcome = AttendanceOutcome()
    if not payloads:
        return outcome
    keys = {group_key(p) for p in payloads}
    if len(keys) != 1 or len(payloads) > 100:
        raise ValueError(
            "send_attendance_group takes 1..100 payloads of one group (account, event, state, route)"
        )
    account, event, state, route = keys.pop()
    outcome.requests += 1
    try:
        response = record_attendance(
            client, account, event, state, [hubspot_input(p) for p in payloads], by_email=route == "email"
        )
    except HubSpotNotFoundError as err:
        reason = (
            f"HubSpot does not know marketing event {event!r} of account {account!r} for this app "
            "(create it first; external ids are visible only to the app that created the event): "
            f"{err.message}"
        )
        outcome.failed.extend(RowFailure(i, EVENT_NOT_FOUND, reason) for i in range(len(payloads)))
        return outcome
    except HubSpotValidationError as err:
        if len(payloads) == 1:
            outcome.failed.append(_failure(0, err.category, err.message, err.body))
            return outcome
        return _split(client, payloads, range(len(payloads)), outcome)
    return _account(client, payloads, response.body, outcome)


def _account(
    client: HubSpotClient,
    payloads: Sequence[Mapping[str, Any]],
    body: Mapping[str, Any],
    outcome: AttendanceOutcome,
) -> AttendanceOutcome:
    """Attribute a 200/207 answer's errors and results to rows; re-send rows left unknown."""
    errors = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
    results = [r for r in body.get("results") or [] if isinstance(r, Mapping)]
    identities = [_identity(p) for p in payloads]
    placed, unplaced = _attribute(errors, identities)
    num_errors = body.get("numErrors")
    reported = num_errors if isinstance(num_errors, int) and not isinstance(num_errors, bool) else len(errors)
    # Every error sits on a row and HubSpot counted no more: the other rows were recorded.
    all_placed = not unplaced and len(placed) >= reported
    answered = {_identity(r): _vid(r) for r in results if _identity(r) is not None}
    unknown: list[int] = []
    for index, identity in enumerate(identities):
        if index in placed:
            error = placed[index]
            outcome.failed.append(_failure(index, error.get("category"), error.get("message"), error))
        elif identity in answered or all_placed:
            outcome.recorded.append((index, answered.get(identity)))
        else:
            unknown.append(index)
    if not unknown:
        return outcome
    if len(unknown) == 1 and len(unplaced) == 1:
        error = unplaced[0]
        outcome.failed.append(_failure(unknown[0], error.get("category"), error.get("message"), error))
        return outcome
    return _split(client, [payloads[i] for i in unknown], unknown, outcome)


def _split(
    client: HubSpotClient,
    payloads: Sequence[Mapping[str, Any]],
    offsets: Sequence[int],
    outcome: AttendanceOutcome,
) -> AttendanceOutcome:
    """Re-send ``payloads`` in two halves (a single row is sent alone)."""
    outcome.splits += 1
    middle = max(1, len(payloads) // 2)
    for lo, hi in ((0, middle), (middle, len(payloads))):
        if lo < hi:
            outcome.merge(send_attendance_group(client, payloads[lo:hi]), offsets[lo:hi])
    return outcome


def _identity(obj: Mapping[str, Any]) -> str | None:
    """``email:<case-folded>`` or ``vid:<id>`` of a payload, a result or an error context."""
    email, vid = obj.get("email"), obj.get("vid")
    if isinstance(email, list | tuple):
        email = email[0] if email else None
    if isinstance(vid, list | tuple):
        vid = vid[0] if vid else None
    if isinstance(email, str) and email:
        return f"email:{email.casefold()}"
    if vid is not None and not isinstance(vid, bool):
        return f"vid:{vid}"
    return None


def _attribute(
    errors: Sequence[Mapping[str, Any]], identities: Sequence[str | None]
) -> tuple[dict[int, Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Errors placed on their row (by ``inputIndex``, else by a unique email / vid), and the rest."""
    placed: dict[int, Mapping[str, Any]] = {}
    unplaced: list[Mapping[str, Any]] = []
    for error in errors:
        context = error.get("context")
        context = context if isinstance(context, Mapping) else {}
        index = _input_index(context, len(identities))
        if index is None:
            wanted = _identity(context)
            matches = [i for i, ident in enumerate(identities) if wanted is not None and ident == wanted]
            index = matches[0] if len(matches) == 1 else None
        if index is None or index in placed:
            unplaced.append(error)
        else:
            placed[index] = error
    return placed, unplaced


def _input_index(context: Mapping[str, Any], size: int) -> int | None:
    raw = context.get("inputIndex")
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    try:
        index = int(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None
    except ValueError:
        return None
    return index if index is not None and 0 <= index < size else None


def _vid(result: Mapping[str, Any]) -> int | None:
    vid = result.get("vid")
    return vid if isinstance(vid, int) and not isinstance(vid, bool) else None


def _failure(index: int, category: Any, message: Any, body: Mapping[str, Any]) -> RowFailure:
    """A :class:`RowFailure` from an error object: its category, message and first named field."""
    field_name: str | None = None
    for detail in body.get("errors") or []:
        if isinstance(detail, Mapping) and isinstance(detail.get("in"), str):
            field_name = detail["in"]
            break
    category = category if isinstance(category, str) and category else "VALIDATION_ERROR"
    if category == "OBJECT_NOT_FOUND" and field_name == "externalEventId":
        category = EVENT_NOT_FOUND  # the per-row shape of an unknown event: reported as the 404 is
    return RowFailure(
        index,
        category,
        message if isinstance(message, str) and message else "HubSpot refused the row without a message",
        field_name,
    )

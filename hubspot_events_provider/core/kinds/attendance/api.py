"""HubSpot calls of the attendance sync: record one request of participations, complete an event as
HubSpot holds it (with the events' ``complete_event``), read participation counters and breakdowns.
Everything goes through :meth:`HubSpotApi.request` (its limiter, retries and typed errors).

Recording many rows (grouping, ordering, per-row attribution, splitting) is the write pipeline's
job: :class:`~hubspot_events_provider.core.kinds.attendance.kind.AttendanceKind` sends each request with
:func:`record_attendance`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hubspot_events_provider.core.errors import HubSpotError, HubSpotNotFoundError, HubSpotValidationError
from hubspot_events_provider.core.http.answers import HubSpotResponse
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.kinds.attendance.mapper import SUBSCRIBER_STATES
from hubspot_events_provider.core.kinds.events.api import complete_event

__all__ = [
    "EVENT_NOT_FOUND",
    "PARTICIPATION_STATES",
    "CompletionOutcome",
    "attendance_path",
    "complete_as_held",
    "get_participation",
    "get_participation_breakdown",
    "get_participation_counters",
    "iter_participation_breakdown",
    "record_attendance",
]

#: Category of rows whose event HubSpot does not know (whole-request 404 or per-row error).
EVENT_NOT_FOUND = "EVENT_NOT_FOUND"
#: States a breakdown can be filtered on.
PARTICIPATION_STATES = ("REGISTERED", "ATTENDED", "CANCELLED", "NO_SHOW")


# -- single calls ----------------------------------------------------------------------------------


def attendance_path(
    client: HubSpotApi, external_event_id: str, subscriber_state: str, *, by_email: bool
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
    client: HubSpotApi,
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
    client: HubSpotApi,
    external_account_id: str,
    external_event_id: str,
    *,
    until: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> CompletionOutcome:
    """Complete an event with the start and end HubSpot holds for it (read first, then ``/complete``).

    A refusal (404, 400) is an outcome, not an exception; transient failures propagate. HubSpot makes
    an event readable some minutes after it is written: with ``until``, a 404 on the read is read
    again (0.5 s, then doubling, at most 8 s apart) until that ``clock`` time before it counts.

    :param client: the client.
    :param external_account_id: the event's external account id.
    :param external_event_id: the event's external id.
    :param until: a ``clock`` time up to which a 404 on the read is taken for HubSpot's read lag.
    :param sleep: sleeps between reads (injectable).
    :param clock: monotonic clock (injectable).
    """
    ids = (external_account_id, external_event_id)
    try:
        held = _read_through_lag(client, ids, until, sleep, clock)
    except HubSpotNotFoundError as err:
        return CompletionOutcome(*ids, "failed", f"HubSpot does not know the event: {err.message}")
    start, end = held.get("startDateTime"), held.get("endDateTime")
    if not isinstance(start, str) or not isinstance(end, str) or not start or not end:
        reason = "HubSpot holds no startDateTime and endDateTime for the event; /complete needs both"
        return CompletionOutcome(*ids, "skipped", reason)
    refused: list[HubSpotError] = []
    try:
        complete_event(client, ids, start, end, on_not_found=refused.append)
    except HubSpotValidationError as err:
        refused.append(err)
    if refused:  # a 400, or a 404: the event was deleted since it was read
        return CompletionOutcome(*ids, "failed", _reason(refused[0]), start, end)
    return CompletionOutcome(*ids, "completed", None, start, end)


def _read_through_lag(
    client: HubSpotApi,
    ids: tuple[str, str],
    until: float | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, Any]:
    """Read the event; while HubSpot answers 404 and ``until`` is ahead, wait and read again."""
    pause = 0.5
    while True:
        try:
            return client.get_event(ids[1], ids[0])
        except HubSpotNotFoundError:
            left = (until - clock()) if until is not None else 0.0
            if left <= 0:
                raise
            sleep(min(pause, left))
            pause = min(pause * 2, 8.0)


def _reason(err: HubSpotError) -> str:
    return f"HubSpot answered HTTP {err.status} ({err.category or 'no category'}): {err.message}"


def get_participation(
    client: HubSpotApi, external_account_id: str, external_event_id: str, contact: str | int
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
    client: HubSpotApi, external_account_id: str, external_event_id: str
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
    client: HubSpotApi,
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
    client: HubSpotApi,
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


def _participations_path(client: HubSpotApi, account: str, event: str) -> str:
    return f"{client.config.api_prefix}/participations/{quote(account, safe='')}/{quote(event, safe='')}"

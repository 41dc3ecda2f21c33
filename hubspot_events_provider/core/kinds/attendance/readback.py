"""Is a recorded participation visible in HubSpot yet? The one comparison behind both modes of
:class:`~hubspot_events_provider.sensors.attendance.MarketingEventAttendanceSensor`.

HubSpot processes participation writes asynchronously: a breakdown read right after an attendance
request may show nothing yet, or an earlier state. :func:`read_visible` reads one contact's
breakdown (``GET /participations/{externalAccountId}/{externalEventId}/breakdown?contactIdentifier=``)
and says whether it shows the state the run left the contact in. The sensor's poke (on a worker) and
the deferrable sensor's trigger (in the triggerer) both call it, so the two modes reach the same
outcome with the same messages.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from hubspot_events_provider.core.errors import HubSpotNotFoundError
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.kinds.attendance.api import get_participation

__all__ = [
    "VISIBLE_STATES",
    "EventUnknownError",
    "Participation",
    "format_participations",
    "not_visible_message",
    "read_visible",
]

#: What HubSpot may show for a contact whose latest recorded state is each subscriber state
#: (completing the event turns a registration without attendance into ``NO_SHOW``).
VISIBLE_STATES = {
    "register": frozenset({"REGISTERED", "NO_SHOW"}),
    "attend": frozenset({"ATTENDED"}),
    "cancel": frozenset({"CANCELLED"}),
}
_MAX_IN_MESSAGE = 50


class Participation(NamedTuple):
    """One sampled participation: event, contact (``email:<address>`` or ``vid:<id>``) and the
    latest state the results file recorded for it."""

    account: str
    event: str
    contact: str
    state: str

    @property
    def identifier(self) -> str:
        """The contact as HubSpot's ``contactIdentifier`` takes it (an email or a contact id)."""
        return self.contact.split(":", 1)[1]

    def describe(self) -> str:
        return f"{self.account}/{self.event}/{self.identifier} ({self.state})"


class EventUnknownError(Exception):
    """HubSpot answers 404 for the event of a participation the results file says was recorded.

    HubSpot makes an event readable by its external ids only some minutes after it is written, so
    a waiting caller keeps the event as not visible yet and names it if the wait ends
    (:func:`not_visible_message`'s ``unknown``)."""

    def __init__(self, message: str, event: tuple[str, str]) -> None:
        super().__init__(message)
        self.event = event


def format_participations(items: Sequence[Participation]) -> str:
    """``account/event/contact (state)`` of the first 50 items, then how many more."""
    shown = ", ".join(p.describe() for p in items[:_MAX_IN_MESSAGE])
    more = len(items) - _MAX_IN_MESSAGE
    return shown + (f" and {more} more" if more > 0 else "")


def not_visible_message(
    missing: Sequence[Participation], total: int, unknown: Collection[tuple[str, str]] = ()
) -> str:
    """The timeout's explanation, the same in poke and deferrable mode.

    :param missing: the participations not visible when the wait ended.
    :param total: how many were sampled.
    :param unknown: ``(account, event)`` of events HubSpot still answered 404 for at the last read.
    """
    message = (
        f"{len(missing)} of {total} participation(s) are still not visible in HubSpot: "
        f"{format_participations(missing)}"
    )
    if unknown:
        events = ", ".join(f"{account}/{event}" for account, event in sorted(unknown)[:_MAX_IN_MESSAGE])
        message += (
            f". HubSpot still does not know event(s) {events} (HTTP 404 at the last read), yet the "
            "results file says attendance was recorded for them: HubSpot makes an event readable "
            "some minutes after it is written; past that, the event was deleted or is another app's"
        )
    return message


def read_visible(client: HubSpotApi, target: Participation) -> dict[str, Any] | None:
    """Read one participation; what HubSpot shows once it is in the recorded state, else ``None``.

    :param client: the client (its limiter and retries).
    :param target: the participation and the state it should show.
    :returns: ``{"externalAccountId", "externalEventId", "contact", "subscriberState",
        "attendanceState", "contactId"}``, or ``None`` when HubSpot shows no participation for the
        contact yet, or an earlier state.
    :raises EventUnknownError: HubSpot does not know the event (yet: its read lag).
    :raises HubSpotError: any other HubSpot failure (auth, scope, server).
    """
    try:
        found = get_participation(client, target.account, target.event, target.identifier)
    except HubSpotNotFoundError as exc:
        raise EventUnknownError(
            f"HubSpot does not know event {target.account}/{target.event} (yet): {exc}",
            (target.account, target.event),
        ) from exc
    if found is None:
        return None
    state = (found.get("properties") or {}).get("attendanceState")
    if state not in VISIBLE_STATES[target.state]:
        return None
    contact = (found.get("associations") or {}).get("contact") or {}
    return {
        "externalAccountId": target.account,
        "externalEventId": target.event,
        "contact": target.contact,
        "subscriberState": target.state,
        "attendanceState": state,
        "contactId": contact.get("contactId"),
    }

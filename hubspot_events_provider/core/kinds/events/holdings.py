"""What HubSpot holds: the app's events as the paged list shows them, for a reconcile to compare.

``GET <prefix>?limit=100&after=`` lists every marketing event of the portal, 100 per request, in
HubSpot's ``MarketingEventPublicReadResponseV2`` shape: ``objectId``, ``externalEventId``,
``appInfo`` and the event's fields, but no ``externalAccountId``. :func:`read_holdings` keeps the
events of one app (``appInfo.id``; every app's when the app is unknown) indexed by
``externalEventId``, with only the fields a comparison reads, and notes the freshest ``updatedAt``
the list showed (how recent HubSpot's lagging view is at least). :func:`read_one` reads one event by
its two external ids (``None`` when HubSpot answers 404). Both count the requests they cost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubspot_events_provider.core.errors import HubSpotNotFoundError
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.kinds.events.api import EventKey, event_path

__all__ = ["PAGE_SIZE", "Holdings", "app_of", "instant_of", "read_holdings", "read_one"]

#: Events per list request: HubSpot's most.
PAGE_SIZE = 100
#: What a list item carries that no comparison reads (the counters, the app, the status).
_NOT_COMPARED = frozenset(
    {"appInfo", "registrants", "attendees", "cancellations", "noShows", "eventStatus", "eventStatusV2"}
)


@dataclass
class Holdings:
    """The events HubSpot listed, by ``externalEventId``, and what reading them cost.

    :param by_event: ``externalEventId`` -> the listed copies (several when accounts or apps share
        the id), each trimmed to what a comparison reads plus ``objectId`` and ``updatedAt``.
    :param apps: ``objectId`` -> ``appInfo.id`` of every listed event.
    :param listed: how many events the list showed (every app's).
    :param pages: list requests made.
    :param freshest: the latest ``updatedAt`` listed: HubSpot's view is at least this recent.
    """

    by_event: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    apps: dict[str, str | None] = field(default_factory=dict)
    listed: int = 0
    pages: int = 0
    freshest: dt.datetime | None = None

    def add(self, item: Mapping[str, Any]) -> None:
        """Keep one listed event (an item without ``externalEventId`` or ``objectId`` is not the
        app's: HubSpot lists events made in its UI too)."""
        self.listed += 1
        event_id, object_id = item.get("externalEventId"), item.get("objectId")
        stamp = instant_of(item.get("updatedAt"))
        if stamp is not None and (self.freshest is None or stamp > self.freshest):
            self.freshest = stamp
        if not isinstance(event_id, str) or object_id is None:
            return
        self.apps[str(object_id)] = app_of(item)
        kept = {k: v for k, v in item.items() if k not in _NOT_COMPARED}
        kept["objectId"] = str(object_id)
        self.by_event.setdefault(event_id, []).append(kept)

    def copies(self, event_id: str, app_id: int | None) -> list[dict[str, Any]]:
        """The listed copies of ``event_id`` made by ``app_id`` (every app's when ``None``)."""
        found = self.by_event.get(event_id, [])
        if app_id is None:
            return list(found)
        return [c for c in found if self.apps.get(c["objectId"]) == str(app_id)]

    def app_of_object(self, object_ids: Iterable[str | None]) -> int | None:
        """The app that made the first of ``object_ids`` the list showed (from its ``appInfo``)."""
        for object_id in object_ids:
            app = self.apps.get(str(object_id)) if object_id is not None else None
            if app is not None and app.isdigit():
                return int(app)
        return None


def app_of(item: Mapping[str, Any]) -> str | None:
    """``appInfo.id`` of a listed event, as text, or ``None``."""
    info = item.get("appInfo")
    app = info.get("id") if isinstance(info, Mapping) else None
    return None if app is None else str(app)


def instant_of(value: Any) -> dt.datetime | None:
    """An ISO 8601 date-time with an offset (or ``Z``) as an aware datetime, else ``None``."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def read_holdings(client: HubSpotApi, *, page_size: int = PAGE_SIZE) -> Holdings:
    """Every listed event, page after page (``ceil(events / page_size)`` requests, one at least).

    :param client: the HubSpot client.
    :param page_size: events per request (1 to 100).
    """
    holdings = Holdings()
    path = client.config.api_prefix
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": page_size}
        if after:
            params["after"] = after
        body = client.request("GET", path, params=params).body
        holdings.pages += 1
        for item in (body or {}).get("results") or []:
            if isinstance(item, Mapping):
                holdings.add(item)
        after_value = (((body or {}).get("paging") or {}).get("next") or {}).get("after")
        if not after_value:
            return holdings
        after = str(after_value)


def read_one(client: HubSpotApi, key: EventKey) -> dict[str, Any] | None:
    """One event by its external ids (this app's only, as HubSpot scopes the read), or ``None``.

    :param client: the HubSpot client.
    :param key: ``(externalAccountId, externalEventId)``.
    """
    account, event_id = key
    try:
        body = client.request("GET", event_path(client, event_id), params={"externalAccountId": account}).body
    except HubSpotNotFoundError:
        return None
    return dict(body) if isinstance(body, Mapping) else None

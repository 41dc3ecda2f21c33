"""An event's key: ``(externalAccountId, externalEventId)``, and how HubSpot's errors name it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubspot_events_provider.core.engine.attribution import context_value

__all__ = ["EVENT_KEY_FIELDS", "event_key_from_context"]

#: Names of the parts of an event's key, in key order.
EVENT_KEY_FIELDS = ("externalAccountId", "externalEventId")


def event_key_from_context(context: Mapping[str, Any]) -> tuple[str, str] | None:
    """An event's key (``externalAccountId``, ``externalEventId``) named by an error's context
    (the events and delete kinds' ``key_from_context``)."""
    account = context_value(context, "externalAccountId")
    event = context_value(context, "externalEventId")
    return (account, event) if account is not None and event is not None else None

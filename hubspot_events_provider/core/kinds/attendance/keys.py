"""Attendance keys: which rows supersede each other (:func:`dedup_key`), which rows may share a
request (:func:`group_key`), and the HubSpot input of one payload (:func:`hubspot_input`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubspot_events_provider.core.kinds.attendance.fields import CONTACT_PROPERTIES

__all__ = ["DedupKey", "GroupKey", "dedup_key", "group_key", "hubspot_input"]

DedupKey = tuple[str, str, str, str]
GroupKey = tuple[str, str, str, str]


def _contact(payload: Mapping[str, Any]) -> tuple[str, str]:
    if "email" in payload:
        return "email", str(payload["email"]).casefold()
    return "vid", str(payload["vid"])


def dedup_key(payload: Mapping[str, Any]) -> DedupKey:
    """``(externalAccountId, externalEventId, contact, subscriberState)``: rows with the same key
    supersede each other (the last row wins). The contact is ``email:<address, case-folded>`` or
    ``vid:<id>`` (an email and a vid of the same contact cannot be matched without HubSpot).

    :param payload: a normalised payload.
    """
    kind, value = _contact(payload)
    return (
        payload["externalAccountId"],
        payload["externalEventId"],
        f"{kind}:{value}",
        payload["subscriberState"],
    )


def group_key(payload: Mapping[str, Any]) -> GroupKey:
    """``(externalAccountId, externalEventId, subscriberState, "email" | "vid")``: rows with the same
    key can share one request (one URL: event, state and route).

    :param payload: a normalised payload.
    """
    return (
        payload["externalAccountId"],
        payload["externalEventId"],
        payload["subscriberState"],
        _contact(payload)[0],
    )


def hubspot_input(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The HubSpot input of one payload: ``{email, interactionDateTime, properties, contactProperties}``
    (email-create) or ``{vid, interactionDateTime, properties}`` (create).

    ``properties`` and ``contactProperties`` are always sent (``{}`` when empty): the spec marks them
    required.

    :param payload: a normalised payload.
    """
    body: dict[str, Any] = {}
    if "email" in payload:
        body["email"] = payload["email"]
    else:
        body["vid"] = payload["vid"]
    body["interactionDateTime"] = payload["interactionDateTime"]
    body["properties"] = dict(payload.get("properties") or {})
    if "email" in payload:
        body[CONTACT_PROPERTIES] = dict(payload.get(CONTACT_PROPERTIES) or {})
    return body

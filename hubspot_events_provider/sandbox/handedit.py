"""Edits and deletes "by hand": what a HubSpot user does to an event in HubSpot's UI.

A hand edit is not a request of the app: it is not counted against the app's rate window or daily
limit and is not in the request log (:meth:`SandboxServer.requests`); the counters ``hand_edits``
and ``hand_deletes`` of :meth:`SandboxServer.stats` count them. It keeps the event's objectId and
external ids, bumps its ``updatedAt`` and, like any write, reaches API reads only after
``read_lag_s``. Custom properties set by hand carry the source ``CRM_UI`` (the API's writes carry
``INTEGRATION``).

This module checks and normalises the changes; :class:`~hubspot_events_provider.sandbox.state.SandboxState`
applies them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hubspot_events_provider.sandbox.responses import iso_utc
from hubspot_events_provider.sandbox.validation import parse_rfc3339

#: Fields a user can change in HubSpot's UI. The external ids belong to the app and stay.
TEXT_FIELDS = ("eventName", "eventOrganizer", "eventType", "eventDescription", "eventUrl")
DATE_FIELDS = ("startDateTime", "endDateTime")
FLAG_FIELDS = ("eventCancelled", "eventCompleted")
EDITABLE_FIELDS = (*TEXT_FIELDS, *DATE_FIELDS, *FLAG_FIELDS)
#: Fields the UI will not leave empty.
REQUIRED_FIELDS = ("eventName", "eventOrganizer")
#: ``PropertyValue.source`` of a custom property set by hand.
UI_SOURCE = "CRM_UI"


def normalise_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check hand-edited event fields; return them as stored (``None`` clears an optional field).

    :param fields: field name -> new value: text fields take a string, ``startDateTime`` /
        ``endDateTime`` an RFC 3339 date-time with an offset (stored in UTC), ``eventCancelled`` /
        ``eventCompleted`` a bool.
    :raises ValueError: on an unknown or not editable field, or a bad value.
    """
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValueError(f"not editable by hand: {unknown}; editable fields are {list(EDITABLE_FIELDS)}")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            if name in REQUIRED_FIELDS or name in FLAG_FIELDS:
                raise ValueError(f"{name} cannot be cleared")
            out[name] = None
        elif name in FLAG_FIELDS:
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be a bool, got {value!r}")
            out[name] = value
        elif not isinstance(value, str) or (name in REQUIRED_FIELDS and not value.strip()):
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        elif name in DATE_FIELDS:
            parsed = parse_rfc3339(value)
            if parsed is None:
                raise ValueError(f"{name} must be an RFC 3339 date-time with an offset, got {value!r}")
            out[name] = iso_utc(parsed)
        else:
            out[name] = value
    return out


def normalise_properties(properties: Mapping[str, Any], defined: Iterable[str]) -> dict[str, str | None]:
    """Check hand-edited custom properties: name -> string value, ``None`` clears the property.

    :param properties: the changes.
    :param defined: the custom properties the account defines (the UI shows no other).
    :raises ValueError: on a property the account does not define, or a value that is not a string.
    """
    known = set(defined)
    out: dict[str, str | None] = {}
    for name, value in properties.items():
        if name not in known:
            raise ValueError(f"the account defines no custom property {name!r}; it defines {sorted(known)}")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"custom property {name!r} takes a string (or None to clear), got {value!r}")
        out[name] = value
    return out

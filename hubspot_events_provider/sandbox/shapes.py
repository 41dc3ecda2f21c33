"""Turn stored event records into HubSpot's response schemas.

``MarketingEventPublicDefaultResponse`` (upsert results), ``MarketingEventPublicReadResponse``
(read by external ids), ``MarketingEventPublicReadResponseV2`` (list) and
``SearchPublicResponseWrapper`` (search).
"""

from __future__ import annotations

from typing import Any

EVENT_FIELDS = (
    "eventName",
    "eventOrganizer",
    "eventType",
    "eventDescription",
    "eventUrl",
    "startDateTime",
    "endDateTime",
    "eventCancelled",
    "eventCompleted",
)


def property_values(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Custom properties as ``PropertyValue``-like objects (``name``, ``value``, timestamp, source:
    ``INTEGRATION`` when the app wrote the value, ``CRM_UI`` when a user edited it by hand).

    :param record: a stored event record.
    """
    return [
        {"name": name, "value": value, "timestamp": stamp, "source": source, "sourceId": "sandbox"}
        for name, (value, stamp, source) in sorted(record["customProperties"].items())
    ]


def default_response(record: dict[str, Any]) -> dict[str, Any]:
    """``MarketingEventPublicDefaultResponse`` of a stored record (one upsert result).

    :param record: a stored event record.
    """
    out: dict[str, Any] = {"id": record["objectId"], "objectId": record["objectId"]}
    out.update({name: record[name] for name in EVENT_FIELDS if name in record})
    out["customProperties"] = property_values(record)
    out["createdAt"] = record["createdAt"]
    out["updatedAt"] = record["updatedAt"]
    return out


def read_response(record: dict[str, Any]) -> dict[str, Any]:
    """``MarketingEventPublicReadResponse`` of a stored record, with the external ids.

    :param record: a stored event record.
    """
    out = default_response(record)
    out["externalAccountId"] = record["externalAccountId"]
    out["externalEventId"] = record["externalEventId"]
    out.update({"registrants": 0, "attendees": 0, "cancellations": 0, "noShows": 0})
    return out


def read_response_v2(record: dict[str, Any], app_id: int) -> dict[str, Any]:
    """``MarketingEventPublicReadResponseV2`` of a stored record (one item of the list route).

    :param record: a stored event record.
    :param app_id: the app that owns the event.
    """
    out: dict[str, Any] = {"objectId": record["objectId"]}
    out.update({name: record[name] for name in EVENT_FIELDS if name in record})
    out["externalEventId"] = record["externalEventId"]
    out["customProperties"] = [
        {"name": name, "value": value}
        for name, (value, _stamp, _source) in sorted(record["customProperties"].items())
    ]
    out["appInfo"] = {"id": str(app_id), "name": "sandbox-app"}
    out.update({"registrants": 0, "attendees": 0, "cancellations": 0, "noShows": 0})
    out["createdAt"] = record["createdAt"]
    out["updatedAt"] = record["updatedAt"]
    return out


def search_result(record: dict[str, Any], app_id: int) -> dict[str, Any]:
    """``SearchPublicResponseWrapper`` of a stored record.

    :param record: a stored event record.
    :param app_id: the app that owns the event.
    """
    return {
        "appId": app_id,
        "externalAccountId": record["externalAccountId"],
        "externalEventId": record["externalEventId"],
        "objectId": record["objectId"],
    }

"""Lifecycle routes of the sandbox: ``POST /events/{externalEventId}/cancel`` and ``/complete``.

Both take ``externalAccountId`` in the query (required) and act only on events the calling app
created (another app's event answers 404, as HubSpot's external-id routes do). ``/complete`` needs
``{startDateTime, endDateTime}`` (RFC 3339 with an offset) and sets ``eventCompleted``; ``/cancel``
sets ``eventCancelled``. Both answer 200 with a ``MarketingEventDefaultResponse``. Attendance
duration computation on ``/complete`` lives with the attendance routes.
"""

from __future__ import annotations

import json
from typing import Any

from hubspot_events_provider.sandbox import responses, shapes
from hubspot_events_provider.sandbox.responses import iso_utc
from hubspot_events_provider.sandbox.routes import Reply, Request, event_not_found, missing_param
from hubspot_events_provider.sandbox.state import SandboxState
from hubspot_events_provider.sandbox.validation import parse_rfc3339

ACTIONS = ("cancel", "complete")


def handle(state: SandboxState, req: Request, event_id: str, action: str) -> Reply:
    """Run ``POST /events/{externalEventId}/{action}`` for ``cancel`` or ``complete``.

    :param state: the sandbox state.
    :param req: the parsed request (its ``app`` is the caller).
    :param event_id: the decoded externalEventId.
    :param action: ``cancel`` or ``complete``.
    """
    account = req.query.get("externalAccountId")
    if not account:
        return missing_param("externalAccountId")
    if action == "cancel":
        changes: dict[str, Any] | Reply = {"eventCancelled": True}
    else:
        changes = _complete_changes(req.body)
    if isinstance(changes, Reply):
        return changes
    record = state.set_lifecycle((account, event_id), changes, app=req.app)
    if record is None:
        return Reply(404, event_not_found(account, event_id))
    state.bump("cancels" if action == "cancel" else "completes")
    return Reply(200, shapes.default_response(record))


def _complete_changes(body: bytes) -> dict[str, Any] | Reply:
    """The stored changes of a ``/complete`` body, or a 400 naming the bad field."""
    try:
        decoded = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError):
        decoded = None
    if not isinstance(decoded, dict):
        return _invalid("The request body must be a JSON object with startDateTime and endDateTime.", "body")
    changes: dict[str, Any] = {"eventCompleted": True}
    for name in ("startDateTime", "endDateTime"):
        value = decoded.get(name)
        parsed = parse_rfc3339(value) if isinstance(value, str) else None
        if parsed is None:
            return _invalid(f"{name} is required, as an ISO 8601 date-time with an offset.", name)
        changes[name] = parsed
    if changes["endDateTime"] < changes["startDateTime"]:
        return _invalid("endDateTime must not be before startDateTime.", "endDateTime")
    return {name: iso_utc(v) if name != "eventCompleted" else v for name, v in changes.items()}


def _invalid(message: str, where: str) -> Reply:
    return Reply(400, responses.validation_error(message, [{"message": message, "in": where}]))

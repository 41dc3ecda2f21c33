"""``/_sandbox/...`` introspection routes (no auth), for a sandbox run from the CLI.

``GET /_sandbox/health``, ``GET /_sandbox/events``, ``GET /_sandbox/contacts``,
``GET /_sandbox/participations``, ``GET /_sandbox/requests``,
``GET /_sandbox/stats``, ``POST /_sandbox/reset``, ``POST /_sandbox/config`` (JSON object of
:class:`~hubspot_events_provider.sandbox.SandboxConfig` fields; ``faults`` as a list of Fault dicts,
e.g. ``{"read_lag_s": 0}``).

What a HubSpot user does in HubSpot's UI (not requests of the app: not rate-counted, not logged):

* ``POST /_sandbox/events/edit`` with ``{"externalAccountId", "externalEventId", "appId"?,
  "customProperties"?: {name: value or null}, <field>: <value>, ...}`` (the fields of
  :meth:`SandboxServer.edit_event_by_hand`): 200 with the event as it is now, 400 on a bad field or
  value, 404 when the app has no such event;
* ``POST /_sandbox/events/delete`` with ``{"externalAccountId", "externalEventId", "appId"?}``: 204,
  or 404 when the app has no such event.

``GET /_sandbox/events`` shows every event as it is now, without ``read_lag_s``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hubspot_events_provider.sandbox import responses
from hubspot_events_provider.sandbox.config import Fault
from hubspot_events_provider.sandbox.routes import Reply

if TYPE_CHECKING:
    from hubspot_events_provider.sandbox.server import SandboxServer


def handle(sandbox: SandboxServer, method: str, path: str, body: bytes) -> Reply:
    """Answer one introspection request.

    :param sandbox: the running sandbox.
    :param method: HTTP method.
    :param path: URL path (starts with ``/_sandbox``).
    :param body: raw request body.
    """
    route = (method, path.rstrip("/"))
    if route == ("GET", "/_sandbox/health"):
        return Reply(200, {"status": "ok", "url": sandbox.url})
    if route == ("GET", "/_sandbox/events"):
        return Reply(200, {"results": sandbox.events()})
    if route == ("GET", "/_sandbox/contacts"):
        return Reply(200, {"results": sandbox.contacts()})
    if route == ("GET", "/_sandbox/participations"):
        return Reply(200, {"results": sandbox.participations()})
    if route == ("GET", "/_sandbox/requests"):
        return Reply(200, {"results": [r.to_dict() for r in sandbox.requests()]})
    if route == ("GET", "/_sandbox/stats"):
        return Reply(200, sandbox.stats())
    if route == ("POST", "/_sandbox/reset"):
        sandbox.reset()
        return Reply(200, {"status": "ok"})
    if route == ("POST", "/_sandbox/config"):
        return _configure(sandbox, body)
    if route == ("POST", "/_sandbox/events/edit"):
        return _by_hand(sandbox, body, delete=False)
    if route == ("POST", "/_sandbox/events/delete"):
        return _by_hand(sandbox, body, delete=True)
    return Reply(404, responses.not_found(f"No sandbox route {method} {path}."))


def _configure(sandbox: SandboxServer, body: bytes) -> Reply:
    try:
        changes: Any = json.loads(body.decode("utf-8") or "{}")
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object of SandboxConfig fields")
        if "faults" in changes:
            changes["faults"] = [Fault.from_dict(f) for f in changes["faults"]]
        for name in (
            "tokens",
            "reject_external_event_ids",
            "latency_s",
            "seed_contacts",
            "custom_properties",
        ):
            if name in changes:
                changes[name] = tuple(changes[name])
        sandbox.configure(**changes)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        message = f"Invalid sandbox config: {exc}"
        return Reply(400, responses.validation_error(message, [{"message": message, "in": "body"}]))
    return Reply(200, sandbox.state.config.public_dict())


def _by_hand(sandbox: SandboxServer, body: bytes, *, delete: bool) -> Reply:
    """Edit or delete an event by hand from a JSON body naming it (see the module docstring)."""
    try:
        data: Any = json.loads(body.decode("utf-8") or "null")
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object naming externalAccountId and externalEventId")
        account, event_id = data.pop("externalAccountId", None), data.pop("externalEventId", None)
        app_id = data.pop("appId", None)
        if not isinstance(account, str) or not isinstance(event_id, str):
            raise ValueError("externalAccountId and externalEventId are required strings")
        if app_id is not None and (not isinstance(app_id, int) or isinstance(app_id, bool)):
            raise ValueError(f"appId must be an integer, got {app_id!r}")
        if delete:
            if data:
                raise ValueError(f"unexpected field(s): {sorted(data)}")
            sandbox.delete_event_by_hand(account, event_id, app_id=app_id)
            return Reply(204)
        props = data.pop("customProperties", None)
        if props is not None and not isinstance(props, dict):
            raise ValueError("customProperties must be an object of name -> value (null clears)")
        edited = sandbox.edit_event_by_hand(account, event_id, app_id=app_id, custom_properties=props, **data)
    except LookupError as exc:
        return Reply(404, responses.not_found(str(exc)))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        message = f"Invalid hand edit: {exc}"
        return Reply(400, responses.validation_error(message, [{"message": message, "in": "body"}]))
    return Reply(200, edited)

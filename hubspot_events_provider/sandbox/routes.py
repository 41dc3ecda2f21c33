"""The HubSpot Marketing Events routes of the sandbox (upsert, read, list, search, delete).

External ids are scoped to the calling app (``Request.app``): read, search, delete, cancel and
complete see only that app's events; the list route shows every app's events with their ``appInfo``.

Reads lag writes (``SandboxConfig.read_lag_s``): the list, read and search routes see the events as
they were that long ago. Writes find the event as it is now: the upsert updates (never duplicates) an
event created a moment ago, and delete, cancel and complete act on it, as a client that writes and
then acts on its own events needs.

Each route takes the parsed request and returns a :class:`Reply`; auth, rate limiting and faults
are handled by :mod:`~hubspot_events_provider.sandbox.handler` before a route runs.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from hubspot_events_provider.sandbox import account, responses, shapes
from hubspot_events_provider.sandbox.state import SandboxState
from hubspot_events_provider.sandbox.validation import (
    RequestError,
    RowProblem,
    parse_batch,
    validate_delete_input,
    validate_event,
)

PREFIXES = (
    "/marketing/marketing-events/2026-03",
    "/marketing/marketing-events/2026-09",
    "/marketing/v3/marketing-events",
    "/marketing/marketing-events/v3",
)
DEFAULT_LIMIT = 10
MAX_LIMIT = 100


@dataclass
class Reply:
    """An HTTP answer: status, JSON body (``None`` for no body) and extra headers.

    :param status: HTTP status.
    :param body: JSON-able body, or ``None`` (e.g. 204).
    :param headers: extra response headers.
    """

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """A parsed HubSpot data request.

    :param method: HTTP method.
    :param prefix: the matched API prefix.
    :param rest: the path after the prefix (``""`` for the list route).
    :param query: parsed query string (first value of each key).
    :param body: raw request body.
    :param app: the calling app's id (``None``: the sandbox's default ``app_id``).
    :param content_type: the request's ``Content-Type`` header (``""`` when absent).
    """

    method: str
    prefix: str
    rest: str
    query: dict[str, str]
    body: bytes
    app: int | None = None
    content_type: str = "application/json"


def split_prefix(path: str) -> tuple[str, str] | None:
    """Split a URL path into ``(prefix, rest)`` when it is under a HubSpot API prefix.

    :param path: URL path without query.
    """
    for prefix in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return prefix, path[len(prefix) :].rstrip("/")
    return None


def route_kind(method: str, rest: str) -> str:
    """Fault route class of a request: ``upsert``, ``read`` or ``other``.

    :param method: HTTP method.
    :param rest: path after the prefix.
    """
    if method == "POST" and rest == "/events/upsert":
        return "upsert"
    if method == "GET":
        return "read"
    from hubspot_events_provider.sandbox import attendance  # imports Reply from this module

    return attendance.route_kind(method, rest) or "other"


def needs_write_scope(method: str) -> bool:
    """Whether the route needs ``crm.objects.marketing_events.write`` (else ``.read``).

    :param method: HTTP method.
    """
    return method != "GET"


def dispatch(state: SandboxState, req: Request) -> Reply:
    """Run the route matching ``req``.

    :param state: the sandbox state.
    :param req: the parsed request.
    """
    from hubspot_events_provider.sandbox import attendance  # imports Reply from this module

    reply = attendance.dispatch(state, req)
    if reply is not None:
        return reply
    rest, method = req.rest, req.method
    if req.prefix in account.PATHS:
        return account.details(state, req)
    if rest == "":
        return list_events(state, req) if method == "GET" else _not_allowed(method, "GET")
    if rest == "/events/upsert":
        return upsert(state, req) if method == "POST" else _not_allowed(method, "POST")
    if rest == "/events/delete":
        return batch_delete(state, req) if method == "POST" else _not_allowed(method, "POST")
    if rest == "/events/search":
        return search(state, req) if method == "GET" else _not_allowed(method, "GET")
    parts = rest.split("/")
    if len(parts) == 3 and parts[1] == "events" and parts[2]:
        event_id = urllib.parse.unquote(parts[2])
        if method == "GET":
            return read_event(state, req, event_id)
        if method == "DELETE":
            return delete_event(state, req, event_id)
        return _not_allowed(method, "GET, DELETE")
    if len(parts) == 4 and parts[1] == "events" and parts[2] and parts[3] in ("cancel", "complete"):
        # Imported here: lifecycle imports this module (Reply, Request), a top-level import would cycle.
        from hubspot_events_provider.sandbox import lifecycle

        if method != "POST":
            return _not_allowed(method, "POST")
        return lifecycle.handle(state, req, urllib.parse.unquote(parts[2]), parts[3])
    return Reply(404, responses.not_found(f"No route for {method} {req.prefix}{rest}."))


def upsert(state: SandboxState, req: Request) -> Reply:
    """``POST /events/upsert``: validate, apply valid rows, answer per ``partial_mode``."""
    started = responses.now_iso()
    if not _is_json(req.content_type):
        return _unsupported_media_type(req.content_type)
    try:
        inputs = parse_batch(req.body)
    except RequestError as exc:
        return Reply(
            400, responses.validation_error(exc.message, [{"message": exc.message, "in": exc.where}])
        )
    cfg = state.config
    problems = [validate_event(item, cfg.reject_external_event_ids) for item in inputs]
    n_bad = sum(1 for p in problems if p)
    if n_bad:
        state.bump("rejected_rows", n_bad)
    if n_bad and cfg.partial_mode == "400":
        return Reply(400, _whole_batch_error(inputs, problems, cfg.row_error_shape))
    results = [
        shapes.default_response(state.apply_upsert(_defined_only(state, item), app=req.app))
        for item, bad in zip(inputs, problems, strict=True)
        if not bad
    ]
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "requestedAt": started,
        "startedAt": started,
        "completedAt": responses.now_iso(),
    }
    if n_bad:
        body["numErrors"] = n_bad
        if cfg.row_error_shape != "count":
            body["errors"] = [
                _row_error(i, inputs[i], p, cfg.row_error_shape) for i, p in enumerate(problems) if p
            ]
    status = 207 if n_bad and cfg.partial_mode == "207" else 200
    return Reply(status, body)


def _defined_only(state: SandboxState, item: dict[str, Any]) -> dict[str, Any]:
    """The input without the custom properties the account does not define: HubSpot filters them
    out and answers success ("If they don't they will be filtered out and not set")."""
    props = item.get("customProperties")
    if not props:
        return item
    defined = set(state.config.custom_properties)
    kept = [prop for prop in props if prop["name"] in defined]
    if len(kept) != len(props):
        state.bump("dropped_custom_properties", len(props) - len(kept))
    return {**item, "customProperties": kept}


def _ident(item: Any, name: str) -> str:
    value = item.get(name) if isinstance(item, dict) else None
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _row_context(index: int, item: Any, shape: str) -> dict[str, list[str]]:
    """The ``context`` naming an input, as much as the error shape says."""
    if shape == "full":
        return {
            "externalAccountId": [_ident(item, "externalAccountId")],
            "externalEventId": [_ident(item, "externalEventId")],
            "inputIndex": [str(index)],
        }
    if shape == "event_id":
        return {"externalEventId": [_ident(item, "externalEventId")]}
    return {}


def _row_message(item: Any, problems: list[RowProblem], shape: str) -> str:
    text = " ".join(p.message for p in problems)
    if shape == "message":
        return f"Marketing event '{_ident(item, 'externalEventId')}': {text}"
    return text


def _row_error(index: int, item: Any, problems: list[RowProblem], shape: str) -> dict[str, Any]:
    """A ``StandardError`` for one invalid input, naming it as the error shape says."""
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": _row_message(item, problems, shape),
        "context": _row_context(index, item, shape),
        "errors": [{"message": p.message, "in": p.field, "code": p.code} for p in problems],
        "links": {},
    }


def _whole_batch_error(inputs: list[Any], problems: list[list[RowProblem]], shape: str) -> dict[str, Any]:
    """The mode-``400`` body. Shape ``count`` names the bad fields but never the row (no index, id
    or value); the other shapes give one detail per bad input, naming it as a per-row error would."""
    if shape != "count":
        details = []
        for index, row in enumerate(problems):
            if row:
                detail: dict[str, Any] = {
                    "message": _row_message(inputs[index], row, shape),
                    "in": row[0].field,
                    "code": row[0].code,
                }
                context = _row_context(index, inputs[index], shape)
                if context:
                    detail["context"] = context
                details.append(detail)
        return responses.validation_error(
            "Invalid input: one or more inputs are invalid; nothing was applied.", details
        )
    seen: dict[tuple[str, str], None] = {}
    for row in problems:
        for p in row:
            seen[(p.field.split("[")[0], p.code)] = None
    details = [{"message": f"Invalid value in field '{f}' ({code}).", "in": f} for f, code in seen]
    return responses.validation_error(
        "Invalid input: one or more inputs are invalid; nothing was applied.", details
    )


def read_event(state: SandboxState, req: Request, event_id: str) -> Reply:
    """``GET /events/{externalEventId}?externalAccountId=`` (with the participation counters), as the
    event was ``read_lag_s`` ago."""
    account = req.query.get("externalAccountId")
    if not account:
        return _missing_param("externalAccountId")
    record = state.read((account, event_id), app=req.app)  # lagged: a fresh event is not there yet
    if record is None:
        return Reply(404, _event_not_found(account, event_id))
    return Reply(200, state.attendance.add_counters(shapes.read_response(record)))


def delete_event(state: SandboxState, req: Request, event_id: str) -> Reply:
    """``DELETE /events/{externalEventId}?externalAccountId=``: 204, or 404 when unknown (to this app)."""
    account = req.query.get("externalAccountId")
    if not account:
        return _missing_param("externalAccountId")
    if not state.delete((account, event_id), app=req.app):
        return Reply(404, _event_not_found(account, event_id))
    return Reply(204)


def batch_delete(state: SandboxState, req: Request) -> Reply:
    """``POST /events/delete``: delete the listed events of the calling app; 202 (or 204).

    HubSpot deletes "only Marketing Events created by the same apps": an input whose ``appId`` is
    not the caller's, or that names no event of the caller, is skipped silently (the answer says
    nothing about it), as unknown ones are. The spec declares no success status; HubSpot answers 202
    live (``batch_delete_status`` can switch to 204).
    """
    if not _is_json(req.content_type):
        return _unsupported_media_type(req.content_type)
    try:
        inputs = parse_batch(req.body)
    except RequestError as exc:
        return Reply(
            400, responses.validation_error(exc.message, [{"message": exc.message, "in": exc.where}])
        )
    if not all(validate_delete_input(item) for item in inputs):
        message = "Invalid input: each input needs appId (integer), externalAccountId and externalEventId."
        return Reply(400, responses.validation_error(message, [{"message": message, "in": "inputs"}]))
    caller = state.config.app_id if req.app is None else req.app
    for item in inputs:
        if item["appId"] == caller:
            state.delete((item["externalAccountId"], item["externalEventId"]), app=caller)
    return Reply(state.config.batch_delete_status)


def search(state: SandboxState, req: Request) -> Reply:
    """``GET /events/search?q=``: this app's events whose externalEventId equals ``q``, as they were
    ``read_lag_s`` ago (HubSpot: "searchable by externalEventId a few minutes after creation")."""
    q = req.query.get("q")
    if q is None:
        return _missing_param("q")
    caller = state.config.app_id if req.app is None else req.app
    found = [shapes.search_result(r, caller) for r in state.read_all(caller) if r["externalEventId"] == q]
    return Reply(200, {"results": found})


def list_events(state: SandboxState, req: Request) -> Reply:
    """``GET <prefix>?limit=&after=``: forward paging ordered by objectId, the events as they were
    ``read_lag_s`` ago."""
    try:
        limit = int(req.query.get("limit", DEFAULT_LIMIT))
        after = int(req.query["after"]) if "after" in req.query else None
    except ValueError:
        return _bad_param("limit/after must be integers.", "limit")
    if not 1 <= limit <= MAX_LIMIT:
        return _bad_param(f"limit must be between 1 and {MAX_LIMIT}.", "limit")
    records = [r for r in state.read_all() if after is None or int(r["objectId"]) > after]
    page = records[:limit]
    store = state.attendance
    body: dict[str, Any] = {
        "results": [
            store.add_counters(shapes.read_response_v2(r, r.get("appId", state.config.app_id))) for r in page
        ]
    }
    if len(records) > limit:
        cursor = page[-1]["objectId"]
        body["paging"] = {"next": {"after": cursor, "link": f"{req.prefix}?limit={limit}&after={cursor}"}}
    return Reply(200, body)


def event_not_found(account: str, event_id: str) -> dict[str, Any]:
    """404 body for an event the calling app does not have.

    :param account: the externalAccountId asked for.
    :param event_id: the externalEventId asked for.
    """
    return _event_not_found(account, event_id)


def missing_param(name: str) -> Reply:
    """400 for a missing required query parameter.

    :param name: the parameter.
    """
    return _missing_param(name)


def _event_not_found(account: str, event_id: str) -> dict[str, Any]:
    return responses.not_found(
        f"Marketing event with externalEventId '{event_id}' and externalAccountId '{account}' was not "
        "found for this app."
    )


def _missing_param(name: str) -> Reply:
    return _bad_param(f"Query parameter '{name}' is required.", name)


def _bad_param(message: str, where: str) -> Reply:
    return Reply(400, responses.validation_error(message, [{"message": message, "in": where}]))


def _is_json(content_type: str) -> bool:
    """Whether a ``Content-Type`` names JSON (``application/json`` or a ``+json`` type)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _unsupported_media_type(content_type: str) -> Reply:
    """415 for a JSON route sent another media type (or none), as HubSpot's JSON API does."""
    shown = content_type or "none"
    message = f"Content-Type '{shown}' is not supported; send application/json."
    return Reply(415, responses.validation_error(message, [{"message": message, "in": "Content-Type"}]))


def _not_allowed(method: str, allow: str) -> Reply:
    """405 with the ``Allow`` header RFC 9110 requires (the methods the sandbox serves there)."""
    return Reply(
        405,
        responses.error_body("METHOD_NOT_ALLOWED", f"Method {method} is not allowed here."),
        headers={"Allow": allow},
    )

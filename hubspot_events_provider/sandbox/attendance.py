"""Attendance routes of the sandbox: record participations, complete an event, read participations.

Routes (under every API prefix, as the three specs declare them):

* ``POST /attendance/{externalEventId}/{subscriberState}/email-create?externalAccountId=`` and
  ``.../create``; ``POST /{objectId}/attendance/{subscriberState}/email-create`` and ``.../create``;
* ``POST /events/{externalEventId}/complete?externalAccountId=`` (``{startDateTime, endDateTime}``);
* ``GET /participations/{externalAccountId}/{externalEventId}[/breakdown]``,
  ``GET /participations/{marketingEventId}[/breakdown]``,
  ``GET /participations/contacts/{contactIdentifier}/breakdown``.

Choices where HubSpot documents nothing (the least helpful plausible shape is the default):

* read lag (``read_lag_s``): the participation reads find their event, by external ids or by
  objectId, as it was ``read_lag_s`` ago (404 for an event created since); the attendance writes
  (``create``, ``email-create``, by external ids or objectId) and ``/complete`` find it as it is now,
  as the upsert does: HubSpot hands out the objectId in the upsert's answer, and a client records
  attendance right after creating the event;

* an event HubSpot does not know: a whole-request 404 (``attendance_unknown_event="404"``), or one
  ``OBJECT_NOT_FOUND`` error per input (``"row"``);
* per-row problems follow ``partial_mode`` as the upsert does: 200 or 207 with ``numErrors`` and, as
  ``row_error_shape`` says (the upsert's setting), ``errors[]`` naming the input by ``inputIndex``
  plus ``email`` or ``vid`` (``"full"``), by the contact only (``"event_id"``: the identifier the
  route is keyed by), in the message only (``"message"``), or no ``errors[]`` at all (``"count"``,
  the default); or a whole-request 400 naming no row;
* ``subscriberState`` must be lower case ``register`` / ``attend`` / ``cancel``; a missing
  ``externalAccountId`` is a 400 (the spec marks it optional, the event cannot be found without it);
* ``properties`` other than ``joinedAt`` / ``leftAt``, or those two for a state other than
  ``attend``, are refused per row; ``joinedAt`` / ``leftAt`` must be RFC 3339 instants with an
  offset; a ``leftAt`` before ``joinedAt`` is accepted silently (duration 0);
* ``interactionDateTime`` must be a non-negative integer and is stored as sent: epoch *seconds*
  are accepted silently and land in 1970, as they would in HubSpot;
* ``properties`` / ``contactProperties`` may be absent (the spec marks them required; live
  clients omit them), unknown input fields are refused per row;
* breakdown ``limit`` outside 1..100 is a 400; paging is forward, ``after`` is a participation id.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from hubspot_events_provider.sandbox import responses
from hubspot_events_provider.sandbox.participations import ATTENDANCE_STATES, STATE_OF_ACTION, EventRef
from hubspot_events_provider.sandbox.routes import Reply, Request
from hubspot_events_provider.sandbox.validation import RequestError, RowProblem, parse_batch, parse_rfc3339

if TYPE_CHECKING:
    from hubspot_events_provider.sandbox.participations import AttendanceStore
    from hubspot_events_provider.sandbox.state import SandboxState

ACTIONS = tuple(STATE_OF_ACTION)
ATTEND_PROPERTIES = ("joinedAt", "leftAt")
EMAIL_FIELDS = frozenset({"email", "interactionDateTime", "properties", "contactProperties"})
VID_FIELDS = frozenset({"vid", "interactionDateTime", "properties"})
MAX_INT64 = 2**63 - 1
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
# HubSpot's exact rule is not documented; the sandbox is strict (RFC 5322 dot-atom local part, no
# leading, trailing or doubled dots; LDH domain labels; an alphabetic TLD), stricter than the client's
# syntax check, so that HubSpot-side per-row email errors happen in tests.
_EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+(?<!\.)"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_NOT_FOUND_CODES = frozenset({"EVENT_NOT_FOUND", "CONTACT_NOT_FOUND"})


def dispatch(state: SandboxState, req: Request) -> Reply | None:
    """Answer an attendance, complete or participations request; ``None`` for any other path.

    :param state: the sandbox state.
    :param req: the parsed request.
    """
    parts = [urllib.parse.unquote(p) for p in req.rest.split("/")[1:]]
    if len(parts) == 4 and parts[3] in ("create", "email-create"):
        by_email = parts[3] == "email-create"
        if parts[0] == "attendance":
            return _by_external_ids(state, req, parts[1], parts[2], by_email)
        if parts[1] == "attendance":
            record = _event_by_object_id(state, parts[0])
            missing = f"Marketing event with objectId '{parts[0]}' was not found."
            return _record(state, req, record, parts[2], by_email, missing)
    if len(parts) == 3 and parts[0] == "events" and parts[2] == "complete":
        return _only(req, "POST") or complete(state, req, parts[1])
    if parts and parts[0] == "participations" and len(parts) in (2, 3, 4):
        return _only(req, "GET") or _participations(state, req, parts[1:])
    return None


def route_kind(method: str, rest: str) -> str | None:
    """``attendance`` for the POST attendance routes (fault matching), else ``None``.

    :param method: HTTP method.
    :param rest: path after the prefix.
    """
    parts = rest.split("/")[1:]
    if method == "POST" and len(parts) == 4 and parts[3] in ("create", "email-create"):
        return "attendance" if "attendance" in (parts[0], parts[1]) else None
    return None


# -- recording -------------------------------------------------------------------------------------


def _by_external_ids(state: SandboxState, req: Request, event_id: str, action: str, by_email: bool) -> Reply:
    if req.method != "POST":
        return _not_allowed(req.method, "POST")
    account = req.query.get("externalAccountId")
    if not account:
        return _bad_param("Query parameter 'externalAccountId' is required.", "externalAccountId")
    record = state.get((account, event_id))
    return _record(state, req, record, action, by_email, _event_missing(account, event_id))


def _record(
    state: SandboxState,
    req: Request,
    record: dict[str, Any] | None,
    action: str,
    by_email: bool,
    missing: str,
) -> Reply:
    """Validate and apply one attendance request (both create routes, both event identities)."""
    if req.method != "POST":
        return _not_allowed(req.method, "POST")
    if action not in ACTIONS:
        return _bad_param(
            f"Invalid subscriberState '{action}': expected one of {', '.join(ACTIONS)}.", "subscriberState"
        )
    try:
        inputs = parse_batch(req.body)
    except RequestError as exc:
        return _bad_param(exc.message, exc.where)
    cfg = state.config
    started = responses.now_iso()
    if record is None:
        if cfg.attendance_unknown_event == "404":
            return Reply(404, responses.not_found(missing))
        problems = [[RowProblem("externalEventId", missing, "EVENT_NOT_FOUND")] for _ in inputs]
    else:
        store = state.attendance
        problems = [validate_input(item, action, by_email, store) for item in inputs]
    n_bad = sum(1 for p in problems if p)
    if n_bad:
        state.bump("rejected_attendance_rows", n_bad)
    if n_bad and cfg.partial_mode == "400":
        return Reply(400, _whole_request_error(problems))
    results = [
        _apply(state, EventRef.of(record), item, action, by_email)
        for item, bad in zip(inputs, problems, strict=True)
        if not bad and record is not None
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
    return Reply(207 if n_bad and cfg.partial_mode == "207" else 200, body)


def _apply(
    state: SandboxState, event: EventRef, item: dict[str, Any], action: str, by_email: bool
) -> dict[str, Any]:
    store = state.attendance
    properties = {k: v for k, v in (item.get("properties") or {}).items()}
    if by_email:
        vid = store.contact_for_email(item["email"], item.get("contactProperties") or {})
        store.record(event, vid, action, item["interactionDateTime"], properties)
        return {"email": item["email"], "vid": vid}
    store.record(event, item["vid"], action, item["interactionDateTime"], properties)
    return {"vid": item["vid"]}


def validate_input(item: Any, action: str, by_email: bool, store: AttendanceStore) -> list[RowProblem]:
    """Problems of one attendance input; an empty list means valid.

    :param item: one element of ``inputs``.
    :param action: ``register``, ``attend`` or ``cancel``.
    :param by_email: the ``email-create`` route (else ``create``, by contact id).
    :param store: contacts, to check that a contact id exists.
    """
    if not isinstance(item, dict):
        return [RowProblem("inputs", "Each input must be a JSON object.", "INVALID_TYPE")]
    known = EMAIL_FIELDS if by_email else VID_FIELDS
    problems = [RowProblem(n, f"Unknown field '{n}'.", "UNKNOWN_FIELD") for n in sorted(set(item) - known)]
    problems.extend(_contact_problems(item, by_email, store))
    moment = item.get("interactionDateTime")
    if moment is None:
        problems.append(
            RowProblem("interactionDateTime", "'interactionDateTime' is required.", "REQUIRED_FIELD")
        )
    elif not _is_int(moment) or not 0 <= moment <= MAX_INT64:
        problems.append(
            RowProblem(
                "interactionDateTime",
                "'interactionDateTime' must be an integer timestamp in milliseconds.",
                "INVALID_INTEGER",
            )
        )
    problems.extend(_property_problems(item.get("properties"), action))
    if by_email:
        problems.extend(_string_map_problems(item.get("contactProperties"), "contactProperties"))
    return problems


def _contact_problems(item: dict[str, Any], by_email: bool, store: AttendanceStore) -> list[RowProblem]:
    if by_email:
        email = item.get("email")
        if email is None:
            return [RowProblem("email", "'email' is required.", "REQUIRED_FIELD")]
        if not isinstance(email, str) or len(email) > 254 or not _EMAIL.match(email):
            return [RowProblem("email", f"Email address {email!r} is invalid.", "INVALID_EMAIL")]
        return []
    vid = item.get("vid")
    if vid is None:
        return [RowProblem("vid", "'vid' is required.", "REQUIRED_FIELD")]
    if not _is_int(vid) or not 0 < vid <= MAX_INT64:
        return [
            RowProblem("vid", f"'vid' must be a positive 64-bit integer, got {vid!r}.", "INVALID_INTEGER")
        ]
    if not store.has_contact(vid):
        return [RowProblem("vid", f"Contact with id {vid} does not exist.", "CONTACT_NOT_FOUND")]
    return []


def _property_problems(properties: Any, action: str) -> list[RowProblem]:
    problems = _string_map_problems(properties, "properties")
    if problems or not properties:
        return problems
    for name in sorted(properties):
        if action != "attend" or name not in ATTEND_PROPERTIES:
            allowed = "joinedAt, leftAt" if action == "attend" else "none"
            problems.append(
                RowProblem(
                    f"properties.{name}",
                    f"Property '{name}' is not allowed for the state '{action}' (allowed: {allowed}).",
                    "PROPERTY_NOT_ALLOWED",
                )
            )
        elif parse_rfc3339(properties[name]) is None:
            problems.append(
                RowProblem(
                    f"properties.{name}",
                    f"'{name}' must be an ISO 8601 instant with an offset, got {properties[name]!r}.",
                    "INVALID_DATE",
                )
            )
    return problems


def _string_map_problems(value: Any, where: str) -> list[RowProblem]:
    if value is None:
        return []
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return [RowProblem(where, f"'{where}' must be an object of string values.", "INVALID_TYPE")]
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _contact(item: Any) -> dict[str, list[str]]:
    """The input's contact identifier (``email`` or ``vid``) as error context."""
    if not isinstance(item, dict):
        return {}
    return {name: [str(item[name])] for name in ("email", "vid") if item.get(name) is not None}


def _row_error(index: int, item: Any, problems: list[RowProblem], shape: str) -> dict[str, Any]:
    """A ``StandardError`` for one refused input, naming it as ``shape`` says (see the module doc)."""
    context: dict[str, list[str]] = {}
    if shape == "full":
        context = {"inputIndex": [str(index)], **_contact(item)}
    elif shape == "event_id":
        context = _contact(item)
    message = " ".join(p.message for p in problems)
    if shape == "message":
        who = " ".join(v[0] for v in _contact(item).values()) or "input"
        message = f"Contact '{who}': {message}"
    not_found = all(p.code in _NOT_FOUND_CODES for p in problems)
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND" if not_found else "VALIDATION_ERROR",
        "message": message,
        "context": context,
        "errors": [{"message": p.message, "in": p.field, "code": p.code} for p in problems],
        "links": {},
    }


def _whole_request_error(problems: list[list[RowProblem]]) -> dict[str, Any]:
    """Mode ``400``: the fields and codes at fault, never which input."""
    seen = {(p.field.split(".")[0], p.code): None for row in problems for p in row}
    details = [{"message": f"Invalid value in field '{f}' ({code}).", "in": f} for f, code in seen]
    return responses.validation_error(
        "Invalid input: one or more inputs are invalid; nothing was recorded.", details
    )


# -- complete --------------------------------------------------------------------------------------


def complete(state: SandboxState, req: Request, event_id: str) -> Reply:
    """``POST /events/{externalEventId}/complete``: mark completed (the lifecycle route's job), then
    compute attendance durations from the stored start and end."""
    from hubspot_events_provider.sandbox import lifecycle  # lifecycle imports routes, which import us

    reply = lifecycle.handle(state, req, event_id, "complete")
    if reply.status != 200:
        return reply
    record = state.get((req.query["externalAccountId"], event_id), app=req.app)
    assert record is not None  # handle() just updated it under the same app
    start, end = parse_rfc3339(record["startDateTime"]), parse_rfc3339(record["endDateTime"])
    assert start is not None  # stored by handle() as RFC 3339
    assert end is not None
    state.attendance.complete(
        str(record["objectId"]), start, end, mark_no_shows=state.config.complete_marks_no_shows
    )
    return reply


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        raise RequestError("Invalid input: the request body is not JSON.", "body") from None
    if not isinstance(body, dict):
        raise RequestError("Invalid input: the request body must be a JSON object.", "body")
    return body


# -- participations --------------------------------------------------------------------------------


def _participations(state: SandboxState, req: Request, parts: list[str]) -> Reply:
    """Route ``/participations/...`` (``parts`` after ``participations``)."""
    if len(parts) == 3 and parts[0] == "contacts" and parts[2] == "breakdown":
        vid = state.attendance.contact_id(parts[1])
        if vid is None:
            return Reply(404, responses.not_found(f"Contact '{parts[1]}' was not found."))
        return _breakdown(state, req, None, vid)
    # A read: the event is looked up as it was read_lag_s ago, by objectId as by external ids.
    if len(parts) == 1 or (len(parts) == 2 and parts[1] == "breakdown" and parts[0].isdigit()):
        record = _event_by_object_id(state, parts[0], lagged=True)
        missing = f"Marketing event with objectId '{parts[0]}' was not found."
    elif len(parts) in (2, 3) and (len(parts) == 2 or parts[2] == "breakdown"):
        record = state.read((parts[0], parts[1]))
        missing = _event_missing(parts[0], parts[1])
    else:
        return Reply(404, responses.not_found(f"No route for GET {req.prefix}{req.rest}."))
    if record is None:
        return Reply(404, responses.not_found(missing))
    if parts[-1] == "breakdown" and len(parts) > 1:
        return _breakdown(state, req, str(record["objectId"]), None)
    return Reply(200, state.attendance.counters(str(record["objectId"])))


def _breakdown(state: SandboxState, req: Request, object_id: str | None, vid: int | None) -> Reply:
    query = req.query
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
        after = int(query["after"]) if query.get("after") else None
    except ValueError:
        return _bad_param("limit/after must be integers.", "limit")
    if not 1 <= limit <= MAX_LIMIT:
        return _bad_param(f"limit must be between 1 and {MAX_LIMIT}.", "limit")
    wanted = query.get("state")
    if wanted is not None and wanted not in ATTENDANCE_STATES:
        return _bad_param(f"state must be one of {', '.join(ATTENDANCE_STATES)}.", "state")
    store = state.attendance
    if query.get("contactIdentifier"):
        vid = store.contact_id(query["contactIdentifier"])
        if vid is None:
            return Reply(200, {"results": [], "total": 0})
    found = store.select(object_id=object_id, vid=vid, state=wanted)
    remaining = [p for p in found if after is None or int(p["id"]) > after]
    page = remaining[:limit]
    body: dict[str, Any] = {"results": [_breakdown_item(p) for p in page], "total": len(found)}
    if len(remaining) > limit:
        cursor = page[-1]["id"]
        link = f"{req.prefix}{req.rest}?" + urllib.parse.urlencode({**query, "after": cursor})
        body["paging"] = {"next": {"after": cursor, "link": link}}
    return Reply(200, body)


def _breakdown_item(part: dict[str, Any]) -> dict[str, Any]:
    """``ParticipationBreakdown`` of one participation."""
    properties: dict[str, Any] = {"attendanceState": part["state"], "occurredAt": part["occurredAt"]}
    if part["attendanceDurationSeconds"] is not None:
        properties["attendanceDurationSeconds"] = part["attendanceDurationSeconds"]
        properties["attendancePercentage"] = part["attendancePercentage"]
    return {
        "id": part["id"],
        "createdAt": part["createdAt"],
        "associations": {
            "contact": {"contactId": str(part["vid"]), "email": part["email"]},
            "marketingEvent": {
                "marketingEventId": part["marketingEventId"],
                "name": part["eventName"],
                "externalAccountId": part["externalAccountId"],
                "externalEventId": part["externalEventId"],
            },
        },
        "properties": properties,
    }


# -- helpers ---------------------------------------------------------------------------------------


def _event_by_object_id(
    state: SandboxState, object_id: str, *, lagged: bool = False
) -> dict[str, Any] | None:
    """The event with ``object_id``: as it is (writes), or as reads see it (``lagged``)."""
    records = state.read_all() if lagged else state.all_events()
    return next((r for r in records if str(r["objectId"]) == object_id), None)


def _event_missing(account: str, event_id: str) -> str:
    return (
        f"Marketing event with externalEventId '{event_id}' and externalAccountId '{account}' was not "
        "found for this app."
    )


def _only(req: Request, method: str) -> Reply | None:
    return None if req.method == method else _not_allowed(req.method, method)


def _bad_param(message: str, where: str) -> Reply:
    return Reply(400, responses.validation_error(message, [{"message": message, "in": where}]))


def _not_allowed(method: str, allow: str) -> Reply:
    """405 with the ``Allow`` header RFC 9110 requires (the one method each of these routes serves)."""
    return Reply(
        405,
        responses.error_body("METHOD_NOT_ALLOWED", f"Method {method} is not allowed here."),
        headers={"Allow": allow},
    )

"""The sandbox measured against HubSpot's OpenAPI specs by Schemathesis: routes, oracle, exceptions.

Everything the conformance test (``test_conformance.py``) needs to know lives here, as data:

* :data:`ROUTES` lists every route the sandbox serves, one line each (``"METHOD /path"``, the path as
  it follows the version prefix; ``""`` is the list route). A route added to the sandbox is covered by
  adding its line.
* :data:`EXCEPTIONS` is the ONE table of places where HubSpot's spec is wrong or silent and the sandbox
  follows HubSpot's documented or observed behaviour instead (``hubspot-api-facts.md``). Each row names
  its route, what it changes and why. A row either narrows/relaxes the oracle spec (``patch``) or
  replaces one Schemathesis check by a check of the observed behaviour (``replace``); no row skips a
  route.

The oracle is HubSpot's spec restricted to :data:`ROUTES`, with the ``patch`` rows applied; every other
check (status codes, content types, response schemas with formats, no server errors, valid data
accepted, invalid data rejected, undeclared methods answered 405) runs as Schemathesis ships it.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemathesis import Case, CheckContext, Response
from schemathesis.checks import CHECKS, load_all_checks

SPEC_DIR = pathlib.Path(__file__).resolve().parents[2] / "spec" / "hubspot"
PREFIXES = {
    "2026-03": "/marketing/marketing-events/2026-03",
    "2026-09": "/marketing/marketing-events/2026-09",
    "v3": "/marketing/v3/marketing-events",
}
# HubSpot's v3 spec lists its list route under this other prefix (facts §1.3); the sandbox serves both.
_V3_LIST = "/marketing/marketing-events/v3"

# Every route the sandbox serves today; add a line when a route lands (cancel, account info, ...).
ROUTES: tuple[str, ...] = (
    "GET ",
    "POST /events/upsert",
    "POST /events/delete",
    "GET /events/search",
    "GET /events/{externalEventId}",
    "DELETE /events/{externalEventId}",
    "POST /events/{externalEventId}/complete",
    "POST /attendance/{externalEventId}/{subscriberState}/email-create",
    "POST /attendance/{externalEventId}/{subscriberState}/create",
    "POST /{objectId}/attendance/{subscriberState}/email-create",
    "POST /{objectId}/attendance/{subscriberState}/create",
    "GET /participations/{externalAccountId}/{externalEventId}",
    "GET /participations/{externalAccountId}/{externalEventId}/breakdown",
    "GET /participations/{marketingEventId}",
    "GET /participations/{marketingEventId}/breakdown",
    "GET /participations/contacts/{contactIdentifier}/breakdown",
)

# Sandbox knobs that change what a route answers: each variant is run on the routes it affects,
# on top of the default configuration (which every route gets).
VARIANTS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "partial_mode=207": ({"partial_mode": "207"}, ("POST /events/upsert",)),
    "partial_mode=400": ({"partial_mode": "400"}, ("POST /events/upsert",)),
    # The default error shape lists no errors[]; these put StandardErrors / ErrorDetails with context.
    "row_error_shape=full": ({"row_error_shape": "full"}, ("POST /events/upsert",)),
    "row_error_shape=message,partial_mode=400": (
        {"row_error_shape": "message", "partial_mode": "400"},
        ("POST /events/upsert",),
    ),
}

CheckFunction = Callable[[CheckContext, Response, Case], bool | None]
SpecPatch = Callable[[dict[str, Any], str], None]


@dataclass(frozen=True)
class Deviation:
    """One justified difference between HubSpot's spec and what the sandbox is held to.

    :param route: the route (a :data:`ROUTES` entry), or ``"*"`` for every route.
    :param what: one line: what differs.
    :param reason: why the sandbox is right and the spec wrong or silent, with the source.
    :param patch: for a spec row: ``patch(spec, prefix)`` edits the oracle spec in place.
    :param replaces: for a check row: the Schemathesis checks switched off on the route...
    :param check: ...and the check of the observed behaviour that runs instead.
    """

    route: str
    what: str
    reason: str
    patch: SpecPatch | None = None
    replaces: tuple[str, ...] = ()
    check: CheckFunction | None = None


# -- spec patches -----------------------------------------------------------------------------------


def _schemas(spec: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return schemas


def _name_value_only(spec: dict[str, Any], _prefix: str) -> None:
    create = _schemas(spec)["MarketingEventCreateRequestParams"]
    create["properties"]["customProperties"]["items"] = {
        "type": "object",
        "required": ["name", "value"],
        "properties": {"name": {"type": "string", "minLength": 1}, "value": {"type": "string"}},
        "additionalProperties": False,
    }
    create["required"] = [name for name in create["required"] if name != "customProperties"]


def _property_value_answers(spec: dict[str, Any], _prefix: str) -> None:
    _schemas(spec)["PropertyValue"]["required"] = ["name", "value"]


def _declared_fields_only(spec: dict[str, Any], _prefix: str) -> None:
    _schemas(spec)["MarketingEventCreateRequestParams"]["additionalProperties"] = False


def _non_blank_identifiers(spec: dict[str, Any], _prefix: str) -> None:
    create = _schemas(spec)["MarketingEventCreateRequestParams"]["properties"]
    for name in ("externalAccountId", "externalEventId", "eventName", "eventOrganizer"):
        # A character that is not white space to Python's str.strip() (the sandbox's test), in the
        # spec's ECMA regex: \S alone lets \x1c-\x1f and \x85 through, which Python strips.
        create[name]["pattern"] = r"[^\s\x1c-\x1f\x85]"


def _non_empty_ids_in_query(spec: dict[str, Any], _prefix: str) -> None:
    for operations in spec["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["name"] == "externalAccountId":
                    parameter["schema"]["minLength"] = 1


def _batch_of_1_to_100(spec: dict[str, Any], _prefix: str) -> None:
    for name in (
        "BatchInputMarketingEventCreateRequestParams",
        "BatchInputMarketingEventExternalUniqueIdentifier",
        "BatchInputMarketingEventEmailSubscriber",
        "BatchInputMarketingEventSubscriber",
    ):
        _schemas(spec)[name]["properties"]["inputs"].update(minItems=1, maxItems=100)


def _parameters(spec: dict[str, Any], where: str, name: str) -> list[dict[str, Any]]:
    """Every parameter ``name`` in ``where`` (``path``/``query``) of every operation."""
    found = []
    for operations in spec["paths"].values():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            found += [p for p in operation.get("parameters", []) if p["in"] == where and p["name"] == name]
    return found


def _account_id_required(spec: dict[str, Any], _prefix: str) -> None:
    for parameter in _parameters(spec, "query", "externalAccountId"):
        parameter["required"] = True


def _subscriber_states(spec: dict[str, Any], _prefix: str) -> None:
    for parameter in _parameters(spec, "path", "subscriberState"):
        parameter["schema"]["enum"] = ["register", "attend", "cancel"]


def _breakdown_paging(spec: dict[str, Any], _prefix: str) -> None:
    for parameter in _parameters(spec, "query", "limit"):
        parameter["schema"].update(minimum=1, maximum=100)
    for parameter in _parameters(spec, "query", "after"):
        parameter["schema"]["pattern"] = r"^[0-9]+$"
    for parameter in _parameters(spec, "query", "state"):
        parameter["schema"]["enum"] = ["REGISTERED", "ATTENDED", "CANCELLED", "NO_SHOW"]


def _multi_status_is_a_batch_answer(spec: dict[str, Any], prefix: str) -> None:
    responses = spec["paths"][prefix + "/events/upsert"]["post"]["responses"]
    responses["207"] = responses["200"]


def _cursor_is_an_object_id(spec: dict[str, Any], prefix: str) -> None:
    for path in (prefix, _V3_LIST):
        for parameter in spec["paths"].get(path, {}).get("get", {}).get("parameters", []):
            if parameter["name"] == "after":
                parameter["schema"]["pattern"] = r"^[0-9]+$"
            if parameter["name"] == "limit":
                parameter["schema"].update(minimum=1, maximum=100)


# -- replacement checks -----------------------------------------------------------------------------


def delete_answers_202(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A batch delete that succeeds answers 202 with no body (HubSpot's observed answer).

    Any other answer is held to the spec's ``default`` (``Error``) by the built-in checks.
    """
    if 200 <= response.status_code < 300:
        assert response.status_code == 202, f"batch delete answered {response.status_code}, HubSpot 202"
        assert not response.content, f"batch delete 202 carries a body: {response.content[:200]!r}"
        return None
    for builtin in CHECKS.get_by_names(["content_type_conformance", "response_schema_conformance"]):
        builtin(ctx, response, case)  # type: ignore[operator]
    return None


def invalid_rows_reported(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Invalid upsert data is refused: 4xx, or 2xx counting every refused input in ``numErrors`` (and
    listing each in ``errors`` when the error shape lists any; the default shape gives only the count)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or response.status_code >= 300:
        return None
    body = response.json()
    inputs = case.body.get("inputs") if isinstance(case.body, dict) else None
    assert isinstance(inputs, list), f"2xx for a body without an inputs list: {case.body!r}"
    applied, refused = len(body["results"]), body.get("numErrors", 0)
    assert refused >= 1, f"invalid upsert data accepted without any error: {case.body!r}"
    assert "errors" not in body or refused == len(body["errors"]), body
    assert applied + refused == len(inputs), f"{applied} applied + {refused} refused != {len(inputs)} inputs"
    return None


def _instant(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def complete_refuses_end_before_start(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Valid ``/complete`` data is accepted, except an end before the start, which is refused 400."""
    body = case.body if isinstance(case.body, dict) else {}
    start, end = _instant(body.get("startDateTime")), _instant(body.get("endDateTime"))
    if response.status_code == 400 and start is not None and end is not None and end < start:
        return None
    for builtin in CHECKS.get_by_names(["positive_data_acceptance"]):
        builtin(ctx, response, case)  # type: ignore[operator]
    return None


EXCEPTIONS: tuple[Deviation, ...] = (
    Deviation(
        "*",
        "PropertyValue in answers needs only name and value (the spec requires ~20 storage fields)",
        "facts §1.1/§1.5: the spec exposes HubSpot's internal storage model; HubSpot's guide, its "
        "Python SDK and live clients exchange {name, value}",
        patch=_property_value_answers,
    ),
    Deviation(
        "POST /events/upsert",
        "custom properties are sent as {name (non-empty), value} only, and are optional",
        "facts §1.5: HubSpot's guide sends {name, value}; the full PropertyValue 'breaks some calls "
        "and doesn't save any of the custom properties' (Ballerina); SDK 12 treats them as optional",
        patch=_name_value_only,
    ),
    Deviation(
        "POST /events/upsert",
        "input fields the spec does not declare are refused (per input)",
        "HubSpot does not document what it does with undeclared fields; the sandbox takes the least "
        "helpful plausible answer (refuse the input) so a typo never passes silently",
        patch=_declared_fields_only,
    ),
    Deviation(
        "POST /events/upsert",
        "externalAccountId, externalEventId, eventName and eventOrganizer must not be blank",
        "facts §1.5: the guide names them as the fields an event must provide; blank values are "
        "refused (least helpful plausible answer; HubSpot documents no minimum length)",
        patch=_non_blank_identifiers,
    ),
    Deviation(
        "POST /events/upsert",
        "invalid inputs in a valid batch may be answered 200 with numErrors/errors (not only 4xx)",
        "facts §3.1: HubSpot's answer to a partly invalid batch is undocumented; the spec's 200 "
        "BatchResponse declares numErrors/errors, and the sandbox's default partial mode answers so. "
        "Checked instead: every refused input is counted in numErrors and listed in errors",
        replaces=("negative_data_rejection",),
        check=invalid_rows_reported,
    ),
    Deviation(
        "POST /events/upsert",
        "partial_mode=207 (a sandbox option, not its default) answers 207 with the 200 BatchResponse",
        "facts §3.1: the answer to a partly invalid batch is undocumented; HubSpot's batch/update "
        "declares 207 with the same batch body, its CRM batch APIs answer 207 multi-status, and "
        "hubspot-sdk parses 207 bodies, so the sandbox offers it as one plausible shape",
        patch=_multi_status_is_a_batch_answer,
    ),
    Deviation(
        "*",
        "a batch (upsert, delete) has 1 to 100 inputs",
        "facts §2.1: 'Batch operations are limited to 100 records at a time' (HubSpot usage "
        "guidelines); an empty batch is refused 400 (least helpful plausible answer; undocumented)",
        patch=_batch_of_1_to_100,
    ),
    Deviation(
        "GET ",
        "the 'after' cursor is an objectId from paging.next.after; limit is 1..100",
        "facts §1.2: limit max 100 (HubSpot docs); a cursor HubSpot never issued is refused 400 "
        "(least helpful plausible answer; the spec types it as any string)",
        patch=_cursor_is_an_object_id,
    ),
    Deviation(
        "*",
        "the query parameter externalAccountId must not be empty",
        "an empty external id cannot name an event HubSpot stores; the sandbox answers 400 "
        "VALIDATION_ERROR like a missing required parameter (HubSpot documents neither)",
        patch=_non_empty_ids_in_query,
    ),
    Deviation(
        "POST /events/delete",
        "success is 202 with no body; the spec declares no success status (only 'default' Error)",
        "facts §1.2/§8: HubSpot declares no 2xx; its live answer is 202 (Ballerina live test), whose "
        "body no source shows, so the sandbox sends none. Non-2xx answers keep the built-in checks",
        replaces=("content_type_conformance", "response_schema_conformance"),
        check=delete_answers_202,
    ),
    Deviation(
        "*",
        "the query parameter externalAccountId is required (the attendance and complete routes mark "
        "it optional)",
        "external ids name an event only with its account: without externalAccountId the event cannot "
        "be found; the sandbox answers 400 VALIDATION_ERROR (least helpful plausible answer; HubSpot "
        "documents no default account)",
        patch=_account_id_required,
    ),
    Deviation(
        "*",
        "subscriberState in an attendance path is register, attend or cancel (lower case)",
        "facts/issue 13: HubSpot documents these three states; the spec types the segment as any "
        "string. Any other value (other case, HubSpot's REGISTERED...) is refused 400 (least helpful "
        "plausible answer; undocumented)",
        patch=_subscriber_states,
    ),
    Deviation(
        "*",
        "participation breakdowns: limit 1..100, after is a participation id, state is one of "
        "REGISTERED/ATTENDED/CANCELLED/NO_SHOW",
        "HubSpot documents the four attendance states and a page limit of 100; the spec types them "
        "as any integer/string. Anything else is refused 400 (least helpful plausible answer)",
        patch=_breakdown_paging,
    ),
    Deviation(
        "POST /events/{externalEventId}/complete",
        "an endDateTime before the startDateTime is refused 400 (the spec has no way to say so)",
        "an event cannot end before it starts; HubSpot refuses it on event upserts (facts §1.5) and "
        "documents nothing for /complete, so the sandbox refuses it (least helpful plausible answer). "
        "Checked instead: every other valid body is accepted",
        replaces=("positive_data_acceptance",),
        check=complete_refuses_end_before_start,
    ),
)


def _route_key(path: str, method: str, prefix: str) -> str:
    rest = "" if path == _V3_LIST else path[len(prefix) :]
    return f"{method.upper()} {rest}"


def route_of(case: Case, version: str) -> str:
    """The :data:`ROUTES` entry a generated case targets.

    :param case: a Schemathesis case.
    :param version: ``"2026-03"``, ``"2026-09"`` or ``"v3"``.
    """
    return _route_key(case.operation.path, case.operation.method, PREFIXES[version])


def replaced_checks(route: str) -> list[CheckFunction]:
    """The built-in Schemathesis checks switched off on ``route`` by :data:`EXCEPTIONS`.

    :param route: a :data:`ROUTES` entry.
    """
    load_all_checks()
    names = [name for row in deviations(route) for name in row.replaces]
    found: list[CheckFunction] = CHECKS.get_by_names(names)  # type: ignore[assignment]
    assert len(found) == len(names), f"unknown check name in {names}"
    return found


def extra_checks(route: str) -> list[CheckFunction]:
    """The checks of observed behaviour :data:`EXCEPTIONS` adds on ``route``.

    :param route: a :data:`ROUTES` entry.
    """
    return [row.check for row in deviations(route) if row.check is not None]


def deviations(route: str) -> list[Deviation]:
    """The :data:`EXCEPTIONS` rows that apply to ``route``.

    :param route: a :data:`ROUTES` entry.
    """
    return [row for row in EXCEPTIONS if row.route in ("*", route)]


@functools.cache
def _raw(version: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SPEC_DIR / f"marketing-events-{version}.json").read_text("utf-8"))
    return loaded


def oracle(version: str, routes: tuple[str, ...] = ROUTES) -> dict[str, Any]:
    """HubSpot's spec of ``version`` restricted to ``routes``, with the spec patches applied.

    :param version: ``"2026-03"``, ``"2026-09"`` or ``"v3"``.
    :param routes: :data:`ROUTES` entries to keep.
    :raises AssertionError: a route is not an operation of the spec.
    """
    spec = copy.deepcopy(_raw(version))
    prefix = PREFIXES[version]
    kept: dict[str, Any] = {}
    for path, operations in spec["paths"].items():
        ops = {
            method: operation
            for method, operation in operations.items()
            if method != "parameters" and _route_key(path, method, prefix) in routes
        }
        if ops:
            kept[path] = ops
    found = {_route_key(path, method, prefix) for path, ops in kept.items() for method in ops}
    assert found == set(routes), f"routes missing from the {version} spec: {set(routes) - found}"
    spec["paths"] = kept
    for row in EXCEPTIONS:
        if row.patch is not None and (row.route == "*" or row.route in routes):
            row.patch(spec, prefix)
    return spec

"""Validate JSON bodies against HubSpot's vendored OpenAPI specs (``spec/hubspot/*.json``).

Public API::

    validate_response(version, method, path_template, status, body)   # raises ContractError
    validate_request_body(version, method, path_template, body)       # raises ContractError

``version`` is ``"2026-03"``, ``"2026-09"`` or ``"v3"``. ``path_template`` is either the spec's full
path (``/marketing/marketing-events/2026-03/events/upsert``) or the part after the version prefix
(``/events/upsert``, ``/events/{externalEventId}``, ``""`` for the list route). For a status the
operation does not declare, the ``default`` response (HubSpot ``Error``) is used. Bodies are
validated with ``jsonschema`` (Draft 4 semantics, as OpenAPI 3.0.1 uses) over the spec's
``components/schemas``; ``date-time`` formats are checked (RFC 3339 with an offset).

Documented relaxations (the spec exposes an internal storage model that real HubSpot does not
enforce, see ``hubspot-api-facts.md`` §1.5):

* ``PropertyValue`` only requires ``name`` and ``value`` (the spec lists ~20 required fields);
* ``customProperties`` is optional in ``MarketingEventCreateRequestParams`` requests;
* a ``207`` answer of an operation that declares ``200`` but no ``207`` (batch upsert) is checked
  against the ``200`` schema: a multi-status answer carries the same batch body (``numErrors`` /
  ``errors``), which is how clients such as hubspot-sdk parse it.

Everything else (types, other required fields, enums) is checked as the spec says. Unknown
properties are allowed, as the spec allows them; pass ``strict=True`` to
:func:`validate_request_body` to refuse properties the spec does not declare.
"""

from __future__ import annotations

import copy
import functools
import json
import pathlib
import re
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_DIR = pathlib.Path(__file__).resolve().parents[2] / "spec" / "hubspot"
VERSIONS = ("2026-03", "2026-09", "v3")
_PREFIXES = {
    "2026-03": "/marketing/marketing-events/2026-03",
    "2026-09": "/marketing/marketing-events/2026-09",
    "v3": "/marketing/v3/marketing-events",
}
_V3_LIST = "/marketing/marketing-events/v3"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_BASE_URI = "urn:hubspot-spec"

__all__ = ["SPEC_DIR", "VERSIONS", "ContractError", "validate_request_body", "validate_response"]


class ContractError(AssertionError):
    """A body does not match the spec; the message names the operation and every violation."""


def validate_response(version: str, method: str, path_template: str, status: int, body: Any) -> None:
    """Check a response body against the operation's response schema.

    :param version: ``"2026-03"``, ``"2026-09"`` or ``"v3"``.
    :param method: HTTP method, any case.
    :param path_template: full spec path or the part after the version prefix.
    :param status: HTTP status of the response; undeclared statuses use ``default``.
    :param body: the decoded JSON body.
    :raises ContractError: the operation is unknown, declares no body for ``status``, or the body
        does not match.
    """
    path, operation = _operation(version, method, path_template)
    declared = operation.get("responses", {})
    key = "200" if status == 207 and "207" not in declared and "200" in declared else str(status)
    response = declared.get(key, declared.get("default"))
    if response is None:
        raise ContractError(
            f"{method.upper()} {path}: status {status} is not declared and there is no default"
        )
    schema = _content_schema(_spec(version), response)
    if schema is None:
        raise ContractError(f"{method.upper()} {path}: status {status} declares no JSON body, got {body!r}")
    _check(version, schema, body, f"{method.upper()} {path} -> {status}")


def validate_request_body(
    version: str, method: str, path_template: str, body: Any, *, strict: bool = False
) -> None:
    """Check a request body against the operation's ``requestBody`` schema.

    :param version: ``"2026-03"``, ``"2026-09"`` or ``"v3"``.
    :param method: HTTP method, any case.
    :param path_template: full spec path or the part after the version prefix.
    :param body: the decoded JSON body.
    :param strict: also refuse object properties the spec does not declare.
    :raises ContractError: the operation is unknown, has no request body, or the body does not match.
    """
    path, operation = _operation(version, method, path_template)
    request = operation.get("requestBody")
    schema = None if request is None else _content_schema(_spec(version), request)
    if schema is None:
        raise ContractError(f"{method.upper()} {path}: the operation declares no JSON request body")
    _check(version, schema, body, f"request of {method.upper()} {path}", strict=strict)


# -- internals --------------------------------------------------------------------------------------


@functools.cache
def _spec(version: str) -> dict[str, Any]:
    """The spec of ``version`` with the documented relaxations applied."""
    if version not in VERSIONS:
        raise ValueError(f"unknown spec version {version!r}; expected one of {VERSIONS}")
    spec: dict[str, Any] = json.loads((SPEC_DIR / f"marketing-events-{version}.json").read_text("utf-8"))
    schemas = spec["components"]["schemas"]
    schemas["PropertyValue"]["required"] = ["name", "value"]
    create = schemas["MarketingEventCreateRequestParams"]
    create["required"] = [name for name in create["required"] if name != "customProperties"]
    return spec


def _operation(version: str, method: str, path_template: str) -> tuple[str, dict[str, Any]]:
    paths = _spec(version)["paths"]
    candidates = [path_template] if path_template.startswith("/marketing") else []
    candidates.append(_PREFIXES.get(version, "") + path_template)
    if version == "v3" and path_template in ("", "/"):
        candidates.append(_V3_LIST)
    for path in candidates:
        operation = paths.get(path, {}).get(method.lower())
        if operation is not None:
            return path, operation
    raise ContractError(f"{method.upper()} {path_template!r} is not an operation of the {version} spec")


def _content_schema(spec: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of a response/requestBody object (following ``#/components/responses``)."""
    if "$ref" in obj:
        obj = spec["components"]["responses"][obj["$ref"].rsplit("/", 1)[1]]
    for media_type, content in obj.get("content", {}).items():
        if "json" in media_type or media_type == "*/*":
            schema: dict[str, Any] | None = content.get("schema")
            return schema
    return None


@functools.cache
def _registry(version: str, strict: bool) -> Registry:
    components = copy.deepcopy(_spec(version)["components"])
    if strict:
        for schema in components["schemas"].values():
            _forbid_additional(schema)
    document = {"components": components}
    return Registry().with_resource(_BASE_URI, Resource.from_contents(document, default_specification=DRAFT4))


def _forbid_additional(schema: Any) -> None:
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            _forbid_additional(value)
    elif isinstance(schema, list):
        for value in schema:
            _forbid_additional(value)


def _rebase(schema: Any) -> Any:
    """Point local ``#/components/...`` refs at the registry document."""
    if isinstance(schema, dict):
        return {
            k: (_BASE_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


def _check(version: str, schema: dict[str, Any], body: Any, what: str, *, strict: bool = False) -> None:
    root = _rebase(schema)
    if strict:
        _forbid_additional(root)
    validator = jsonschema.Draft4Validator(root, registry=_registry(version, strict), format_checker=_FORMATS)
    problems = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if problems:
        lines = [
            f"  at {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in problems[:20]
        ]
        raise ContractError(f"{what} ({version}) does not match the spec:\n" + "\n".join(lines))

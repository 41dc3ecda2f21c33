"""HubSpot-shaped JSON bodies used by the sandbox: error bodies, 429 bodies, timestamps.

Shapes follow HubSpot's OpenAPI ``Error`` / ``StandardError`` schemas and the captured bodies in
``hubspot-api-facts.md`` §2.2, §3.2 and §3.5.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

KB_LINK = {"knowledge-base": "https://www.hubspot.com/products/service/knowledge-base"}
WRITE_SCOPE = "crm.objects.marketing_events.write"
READ_SCOPE = "crm.objects.marketing_events.read"
OAUTH_SCOPES = ("oauth", READ_SCOPE, WRITE_SCOPE)


def now_iso() -> str:
    """The current UTC time as HubSpot writes it: ``2026-11-05T10:00:00.123Z``."""
    return iso_utc(dt.datetime.now(dt.UTC))


def iso_utc(moment: dt.datetime) -> str:
    """Format an aware datetime in UTC with milliseconds and a ``Z`` suffix.

    :param moment: an aware datetime.
    """
    utc = moment.astimezone(dt.UTC)
    # Not strftime("%Y"): it drops the leading zeros of a year below 1000 ("315-05-06T..."), which
    # is not an RFC 3339 date-time; HubSpot always writes four digits.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
        f".{utc.microsecond // 1000:03d}Z"
    )


def error_body(
    category: str,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    context: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A HubSpot ``Error`` body (``status``, ``message``, ``correlationId``, ``category``, ``links``).

    :param category: HubSpot category, e.g. ``VALIDATION_ERROR``.
    :param message: human-readable message.
    :param errors: optional ``ErrorDetail`` list (``message``, ``in``, ``code``, ``context``).
    :param context: optional ``map<string, string[]>`` context.
    """
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        "links": dict(KB_LINK),
    }
    if errors is not None:
        body["errors"] = errors
    if context is not None:
        body["context"] = context
    return body


def invalid_authentication() -> dict[str, Any]:
    """401 body for a missing or unknown token."""
    return error_body(
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
        "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    )


def expired_authentication(seconds_ago: int) -> dict[str, Any]:
    """401 body for an expired OAuth access token.

    :param seconds_ago: how long ago the token expired, in whole seconds.
    """
    return error_body(
        "EXPIRED_AUTHENTICATION",
        f"The OAuth token used to make this call expired {seconds_ago} second(s) ago.",
    )


def missing_scopes(scope: str) -> dict[str, Any]:
    """403 ``MISSING_SCOPES`` body naming the required granular scope.

    :param scope: the scope the route needs.
    """
    return error_body(
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about required "
        "scopes here: https://developers.hubspot.com/scopes.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [scope]},
            }
        ],
    )


def not_found(message: str) -> dict[str, Any]:
    """404 ``OBJECT_NOT_FOUND`` body.

    :param message: what was not found.
    """
    return error_body("OBJECT_NOT_FOUND", message)


def validation_error(message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """400 ``VALIDATION_ERROR`` body.

    :param message: summary message.
    :param errors: ``ErrorDetail`` list, each with ``message`` and ``in``.
    """
    return error_body("VALIDATION_ERROR", message, errors=errors or [])


def server_error(status: int) -> dict[str, Any]:
    """Body of an injected 5xx answer.

    :param status: the HTTP status.
    """
    return error_body("INTERNAL_ERROR", f"Internal error (sandbox fault, HTTP {status}).")


def rate_limited(policy: str, app_id: int) -> dict[str, Any]:
    """429 body for the ``TEN_SECONDLY_ROLLING`` or ``DAILY`` policy.

    HubSpot's documented 429 body plus ``category`` (``RATE_LIMITS``), which the spec's ``Error``
    schema requires.

    :param policy: ``TEN_SECONDLY_ROLLING`` or ``DAILY``.
    :param app_id: the app whose budget is spent.
    """
    if policy == "DAILY":
        message = "You have reached your daily limit."
        group = f"publicapi:daily:{app_id}"
    else:
        message = "You have reached your ten_secondly_rolling limit."
        group = f"publicapi:api-calls-ten-secondly:{app_id}"
    return {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "category": "RATE_LIMITS",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "groupName": group,
        "requestId": str(uuid.uuid4()),
    }


def oauth_error(error: str, description: str, legacy_status: str) -> dict[str, Any]:
    """RFC 6749 error body of the token endpoint, with HubSpot's legacy ``status``/``message``.

    :param error: RFC 6749 ``error`` code, e.g. ``invalid_grant``.
    :param description: ``error_description``.
    :param legacy_status: legacy ``status`` value, e.g. ``BAD_REFRESH_TOKEN``.
    """
    return {
        "error": error,
        "error_description": description,
        "status": legacy_status,
        "message": description,
        "correlationId": str(uuid.uuid4()),
    }

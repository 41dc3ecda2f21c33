"""What HubSpot's answers become: a successful :class:`HubSpotResponse` or a typed error.

:func:`error_from_response` maps a failed answer
to the error tree of :mod:`hubspot_events_provider.core.errors`, and :class:`ClientStats` counts a
client's requests, retries and 429s. Nothing here sends a request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotValidationError,
)

__all__ = ["ClientStats", "HubSpotResponse", "error_from_response"]


@dataclass(frozen=True)
class HubSpotResponse:
    """A successful answer.

    :param status: HTTP status (200, 201, 204, 207).
    :param body: the parsed JSON body (``{}`` for an empty body).
    :param headers: response headers (HubSpot never echoes credentials in them).
    :param method: HTTP method of the request.
    :param path: URL path of the request, without query string.
    """

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(repr=False)
    method: str
    path: str


class ClientStats:
    """Thread-safe counters of one client: requests sent, retries, 429s received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"requests": 0, "retries": 0, "rate_limited": 0}

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + amount

    def snapshot(self) -> dict[str, int]:
        """Return a copy of the counters: ``requests``, ``retries``, ``rate_limited``."""
        with self._lock:
            return dict(self._counts)


def _scopes_from(body: Mapping[str, Any]) -> list[str]:
    scopes: list[str] = []
    for err in body.get("errors") or []:
        context = err.get("context") if isinstance(err, dict) else None
        if isinstance(context, dict):
            for key in ("requiredGranularScopes", "missingScopes", "requiredScopes"):
                value = context.get(key)
                if isinstance(value, list):
                    scopes.extend(str(v) for v in value)
    return sorted(set(scopes))


def _rate_limit_error(
    message: str, body: Mapping[str, Any], retry_after: float | None, kwargs: dict[str, Any]
) -> HubSpotRateLimitError:
    """A 429: the daily budget (never retried) or a secondly/burst limit that outlasted the retries."""
    policy = str(body.get("policyName") or "") or None
    if policy == "DAILY":
        resets_at = None
        if retry_after is not None:
            resets_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + retry_after))
        when = "" if resets_at else " HubSpot did not say when it resets."
        return HubSpotDailyLimitError(
            f"the account's daily API request limit is spent ({message}).{when}",
            policy_name=policy,
            retry_after=retry_after,
            resets_at=resets_at,
            **kwargs,
        )
    return HubSpotRateLimitError(
        f"rate limited ({policy or 'burst limit'}) and the retries ran out: {message}",
        policy_name=policy,
        retry_after=retry_after,
        **kwargs,
    )


def error_from_response(
    status: int,
    body: Mapping[str, Any],
    *,
    method: str,
    path: str,
    retry_after: float | None = None,
) -> HubSpotError:
    """Map a failed HubSpot answer to the typed error tree.

    :param status: HTTP status.
    :param body: parsed JSON error body (``{}`` if none).
    :param method: HTTP method of the request.
    :param path: URL path of the request, without query string.
    :param retry_after: seconds from a ``Retry-After`` header, if any.
    """
    category = body.get("category") or body.get("errorType")
    message = str(body.get("message") or f"HubSpot answered HTTP {status}.")
    kwargs: dict[str, Any] = {
        "status": status,
        "category": str(category) if category else None,
        "correlation_id": body.get("correlationId"),
        "method": method,
        "path": path,
        "body": dict(body),
    }
    if status == 401:
        return HubSpotAuthError(f"HubSpot refused the credentials: {message}", **kwargs)
    if status == 403:
        scopes = _scopes_from(body)
        wanted = ", ".join(scopes) if scopes else "crm.objects.marketing_events.read/write"
        return HubSpotMissingScopesError(f"the app lacks a required scope ({wanted}): {message}", **kwargs)
    if status == 404:
        return HubSpotNotFoundError(
            f"not found: {message} (external ids are visible only to the app that created the event)",
            **kwargs,
        )
    if status == 429:
        return _rate_limit_error(message, body, retry_after, kwargs)
    if status >= 500 or status in (423, 477) or 200 <= status < 300:
        return HubSpotServerError(f"HubSpot had a transient problem: {message}", **kwargs)
    return HubSpotValidationError(f"HubSpot refused the request: {message}", **kwargs)

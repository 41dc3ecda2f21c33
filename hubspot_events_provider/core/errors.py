"""The typed errors of the HubSpot client and of input handling.

Every error raised by the client derives from :class:`HubSpotError` and carries the HTTP status,
HubSpot's ``category`` and ``correlationId``, and the method and path of the request (never its
headers, never the token). ``str()`` reads as a sentence a person can act on.

Tree::

    HubSpotError
    ├── HubSpotTransportError        connection refused/reset, DNS, timeout, truncated body
    ├── HubSpotAuthError             401 (bad, revoked or expired token; failed OAuth refresh)
    ├── HubSpotMissingScopesError    403 MISSING_SCOPES (and other 403s)
    ├── HubSpotRateLimitError        429 TEN_SECONDLY_ROLLING that outlasted the retries
    │   └── HubSpotDailyLimitError   429 DAILY: never retried
    ├── HubSpotValidationError       400 (and other non-retryable 4xx except 404)
    ├── HubSpotNotFoundError         404
    └── HubSpotServerError           5xx, 423, 477, a 2xx whose body is not JSON, after retries

    InputError (ValueError)          bad input: a file, a row source, a parameter; names the source
    └── UnmappedFieldsError          source keys that map to no HubSpot field
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "HubSpotAuthError",
    "HubSpotDailyLimitError",
    "HubSpotError",
    "HubSpotMissingScopesError",
    "HubSpotNotFoundError",
    "HubSpotRateLimitError",
    "HubSpotServerError",
    "HubSpotTransportError",
    "HubSpotValidationError",
    "InputError",
    "UnmappedFieldsError",
    "transport_cause",
]


class HubSpotError(Exception):
    """Base of every error raised while talking to HubSpot.

    :param message: what went wrong, in words a person can act on.
    :param status: the HTTP status, or ``None`` when no response arrived.
    :param category: HubSpot's ``category`` (``VALIDATION_ERROR``, ``RATE_LIMITS``...), if any.
    :param correlation_id: HubSpot's ``correlationId``, to quote to HubSpot support.
    :param method: the HTTP method of the request.
    :param path: the URL path of the request (no query string, no host credentials).
    :param body: the parsed JSON error body, if any (HubSpot bodies never echo the token).
    """

    hint: str = ""
    #: Whether a later attempt of the whole task may succeed (Airflow's retries); ``False`` for a
    #: refused token, a missing scope, a spent daily budget, a refused request or a wrong path.
    retry_can_heal: bool = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        correlation_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.category = category
        self.correlation_id = correlation_id
        self.method = method
        self.path = path
        self.body: Mapping[str, Any] = body or {}

    def __str__(self) -> str:
        where = f"{self.method} {self.path}" if self.method and self.path else "HubSpot request"
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        parts = [f"{where} failed ({status}"]
        if self.category:
            parts[0] += f", {self.category}"
        parts[0] += f"): {self.message}"
        if self.hint:
            parts.append(self.hint)
        if self.correlation_id:
            parts.append(f"HubSpot correlationId: {self.correlation_id}.")
        return " ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep keyword attributes across pickling (Airflow may pickle exceptions between processes).
        return (
            _rebuild,
            (
                type(self),
                self.message,
                {
                    "status": self.status,
                    "category": self.category,
                    "correlation_id": self.correlation_id,
                    "method": self.method,
                    "path": self.path,
                    "body": dict(self.body),
                },
                dict(self.__dict__),
            ),
        )


def _rebuild(cls: type[HubSpotError], message: str, kwargs: dict[str, Any], state: dict[str, Any]) -> Any:
    err = cls.__new__(cls)
    HubSpotError.__init__(err, message, **kwargs)
    err.__dict__.update(state)
    return err


class HubSpotTransportError(HubSpotError):
    """No usable answer: connection refused or reset, DNS failure, timeout, truncated body."""

    hint = "Check that the connection's host is reachable from the worker; the request may be retried."


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: causes, contexts, urllib3's ``reason``, exceptions in ``args``."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        todo.extend(e for e in linked if isinstance(e, BaseException))


#: Causes of a failed connection, most specific first: (class names or types in the chain, words).
_CAUSES: tuple[tuple[tuple[str | type[BaseException], ...], str], ...] = (
    (("ConnectTimeout", "ConnectTimeoutError"), "connect timeout"),
    (("ReadTimeout", "ReadTimeoutError"), "read timeout"),
    (("NameResolutionError", socket.gaierror), "name resolution failed"),
    (("SSLError", ssl.SSLError), "TLS handshake failed"),
    ((ConnectionRefusedError,), "connection refused"),
    (
        ("RemoteDisconnected", "ChunkedEncodingError", "IncompleteRead", ConnectionResetError),
        "connection dropped",
    ),
    (("Timeout", TimeoutError), "timeout"),
)


def transport_cause(exc: BaseException) -> str:
    """Name why a connection failed, in words: ``name resolution failed``, ``connection refused``,
    ``TLS handshake failed``, ``connect timeout``, ``read timeout``, ``connection dropped``,
    ``timeout``, or ``no details``.

    Reads only exception types (never their text, which may hold a URL with its query string).

    :param exc: the exception raised by the HTTP library (``requests``/``urllib3``).
    """
    chain = list(_chain(exc))
    for markers, words in _CAUSES:
        for link in chain:
            for marker in markers:
                hit = type(link).__name__ == marker if isinstance(marker, str) else isinstance(link, marker)
                if hit:
                    return words
    return "no details"


class HubSpotAuthError(HubSpotError):
    """401: the token is missing, wrong, revoked or expired, or the OAuth refresh failed."""

    retry_can_heal = False

    hint = (
        "Check the access token (Connection password) or the OAuth client_id/client_secret/refresh_token "
        "in the Airflow Connection."
    )


class HubSpotMissingScopesError(HubSpotError):
    """403: the app lacks a scope such as ``crm.objects.marketing_events.write``."""

    retry_can_heal = False

    hint = (
        "Grant the app the scopes crm.objects.marketing_events.read and crm.objects.marketing_events.write "
        "in HubSpot, then issue a new token."
    )


class HubSpotRateLimitError(HubSpotError):
    """429 that outlasted the retries.

    :param policy_name: HubSpot's ``policyName`` (``TEN_SECONDLY_ROLLING``, ``DAILY``...).
    :param retry_after: seconds HubSpot asked to wait, if it said.
    """

    hint = "Lower max_in_flight or max_requests_per_10s, or share the budget through an Airflow pool."

    def __init__(
        self,
        message: str,
        *,
        policy_name: str | None = None,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.policy_name = policy_name
        self.retry_after = retry_after


class HubSpotDailyLimitError(HubSpotRateLimitError):
    """429 ``DAILY``: the account's daily request budget is spent. Never retried.

    :param resets_at: ISO 8601 time when the daily budget resets, if known.
    """

    hint = (
        "The HubSpot account's daily API limit is spent; it resets at midnight in the account's time zone. "
        "Retrying now cannot succeed."
    )
    retry_can_heal = False

    def __init__(self, message: str, *, resets_at: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.resets_at = resets_at

    def __str__(self) -> str:
        text = super().__str__()
        if self.resets_at:
            text += f" The daily limit resets at {self.resets_at}."
        return text


class HubSpotValidationError(HubSpotError):
    """400 (or another non-retryable 4xx): HubSpot refused the request as invalid."""

    retry_can_heal = False


class HubSpotNotFoundError(HubSpotError):
    """404: no such object, or it belongs to another app (external ids are scoped to the creating app)."""

    retry_can_heal = False


class HubSpotServerError(HubSpotError):
    """5xx, 423, 477 or an unparseable 2xx body that outlasted the retries."""

    hint = "HubSpot had a transient problem; an Airflow retry of the task may succeed."


class InputError(ValueError):
    """Bad input to the provider: a file, a row source or a parameter.

    :param message: what is wrong.
    :param source: where it came from (a path, ``events`` XCom, ``sql``...).
    :param line: 1-based line or row number in the source, when known.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.source:
            where = f"{self.source}"
            if self.line is not None:
                where += f", line {self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        return f"{where}{self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_input_error, (type(self), self.message, self.source, self.line, dict(self.__dict__)))


def _rebuild_input_error(
    cls: type[InputError], message: str, source: str | None, line: int | None, state: dict[str, Any]
) -> Any:
    err = cls.__new__(cls)
    InputError.__init__(err, message, source=source, line=line)
    err.__dict__.update(state)
    return err


class UnmappedFieldsError(InputError):
    """Source keys that map to no HubSpot field: refused rather than dropped silently.

    :param keys: the unmapped source keys, sorted.
    :param suggestions: unmapped key -> the HubSpot field it probably meant (a typo), if any.
    """

    def __init__(
        self,
        keys: list[str],
        *,
        source: str | None = None,
        line: int | None = None,
        suggestions: Mapping[str, str] | None = None,
    ) -> None:
        self.keys = sorted(keys)
        self.suggestions: dict[str, str] = dict(suggestions or {})
        message = (
            f"source keys {', '.join(repr(k) for k in self.keys)} map to no HubSpot field. "
            "Map them with field_map, send them as custom_properties, or list them in ignore_fields "
            "(ignore_unmapped=True ignores every unmapped key)."
        )
        if self.suggestions:
            hints = ", ".join(f"{k!r} -> {v!r}" for k, v in self.suggestions.items())
            message += f" Did you mean {hints}?"
        super().__init__(message, source=source, line=line)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_unmapped, (self.keys, self.source, self.line, self.suggestions))


def _rebuild_unmapped(
    keys: list[str], source: str | None, line: int | None, suggestions: Mapping[str, str] | None = None
) -> UnmappedFieldsError:
    return UnmappedFieldsError(keys, source=source, line=line, suggestions=suggestions)

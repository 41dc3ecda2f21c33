"""Which failed HubSpot requests to retry, and how long to wait before the next attempt.

One policy function, :func:`should_retry`, maps an outcome (HTTP status, HubSpot ``category`` and
``policyName``, or a transport failure) to a :class:`RetryDecision`; one backoff function,
:func:`backoff_seconds`, turns an attempt number and an optional ``Retry-After`` into a delay;
:func:`retry_delay` applies the whole policy (the short jitter after a secondly 429, whose real
wait is the rate limiter's pause, and the minimum wait after a 423). All are pure: jitter comes
from an injected ``rng`` so tests can pin it.

Retried: 429 ``TEN_SECONDLY_ROLLING`` (after the rate window), 5xx, 423, 477, connection errors,
timeouts and a 2xx whose body is not valid JSON. Never retried: 400, 401 (except one OAuth refresh
on ``EXPIRED_AUTHENTICATION``), 403, 404 and 429 ``DAILY``.
"""

from __future__ import annotations

import email.utils
import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Failure",
    "RetryDecision",
    "backoff_seconds",
    "parse_retry_after",
    "retry_delay",
    "should_retry",
]

#: Shortest wait after a 423 (HubSpot: "locked; wait at least 2 s").
LOCKED_MIN_WAIT_S = 2.0
#: Longest jitter before retrying a secondly 429: the rate limiter's pause is the real wait; the
#: jitter only keeps the threads refused together from asking the limiter at the same instant.
RATE_LIMITED_JITTER_S = 1.0


class Failure(enum.Enum):
    """A failure with no usable HTTP answer."""

    CONNECTION = "connection"  # refused, reset, DNS, dropped mid-answer
    TIMEOUT = "timeout"
    INVALID_BODY = "invalid_body"  # a 2xx whose body is not valid JSON (truncated)


@dataclass(frozen=True)
class RetryDecision:
    """What to do after a failed attempt.

    :param retry: whether another attempt may succeed.
    :param reason: short words for logs (``"429 TEN_SECONDLY_ROLLING"``, ``"HTTP 503"``...).
    :param refresh_auth: refresh the OAuth access token before the next attempt.
    :param rate_limited: a secondly/burst 429: pause every thread until the window has passed.
    :param min_wait: the shortest wait before the next attempt, in seconds.
    """

    retry: bool
    reason: str
    refresh_auth: bool = False
    rate_limited: bool = False
    min_wait: float = 0.0


_RETRYABLE_STATUS = frozenset({423, 477, 500, 502, 503, 504})


def should_retry(
    *,
    status: int | None = None,
    category: str | None = None,
    policy_name: str | None = None,
    failure: Failure | None = None,
    can_refresh_auth: bool = False,
    auth_refreshed: bool = False,
) -> RetryDecision:
    """Decide whether a failed attempt is worth another try.

    :param status: HTTP status of the answer, ``None`` when there was none.
    :param category: HubSpot's ``category`` from the error body (``EXPIRED_AUTHENTICATION``...).
    :param policy_name: HubSpot's ``policyName`` of a 429 (``TEN_SECONDLY_ROLLING``, ``DAILY``).
    :param failure: the transport failure, when there was no usable answer.
    :param can_refresh_auth: the credentials can be refreshed (OAuth).
    :param auth_refreshed: they were already refreshed once for this request.
    """
    if failure is not None:
        return RetryDecision(retry=True, reason=failure.value)
    if status is None:
        return RetryDecision(retry=True, reason="no response")
    if status == 401:
        if category == "EXPIRED_AUTHENTICATION" and can_refresh_auth and not auth_refreshed:
            return RetryDecision(retry=True, reason="401 EXPIRED_AUTHENTICATION", refresh_auth=True)
        return RetryDecision(retry=False, reason=f"401 {category or 'unauthorized'}")
    if status == 429:
        policy = (policy_name or "").upper()
        if policy == "DAILY":
            return RetryDecision(retry=False, reason="429 DAILY")
        return RetryDecision(retry=True, reason=f"429 {policy or 'rate limited'}", rate_limited=True)
    if status == 423:
        return RetryDecision(retry=True, reason="HTTP 423", min_wait=LOCKED_MIN_WAIT_S)
    if status in _RETRYABLE_STATUS or status >= 500:
        return RetryDecision(retry=True, reason=f"HTTP {status}")
    return RetryDecision(retry=False, reason=f"HTTP {status}")


def backoff_seconds(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    retry_after_cap: float = 120.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0).

    Without ``Retry-After``: full jitter, ``uniform(0, min(cap, base * 2**attempt))``, never less
    than a tenth of the step so retries do not fire back-to-back. With ``Retry-After``: that value
    (clamped to ``[0, retry_after_cap]``) plus a little jitter so threads do not wake together.

    :param attempt: 0 for the first retry.
    :param retry_after: seconds the server asked to wait, if it said.
    :param base: first step in seconds.
    :param cap: longest step in seconds.
    :param retry_after_cap: longest honoured ``Retry-After``.
    :param rng: returns a float in ``[0, 1)``; inject a constant to pin the jitter.
    """
    if retry_after is not None:
        honoured = min(max(retry_after, 0.0), retry_after_cap)
        return honoured + rng() * min(base, 1.0)
    step = min(cap, base * (2.0 ** max(attempt, 0)))
    return max(step * 0.1, step * rng())


def retry_delay(
    decision: RetryDecision,
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to sleep before retry number ``attempt + 1`` after a failure ``decision`` allows.

    A secondly 429 sleeps only a jitter of ``[0, min(base, RATE_LIMITED_JITTER_S))``: the limiter,
    penalized by the client, holds every thread for the real pause (its wait is logged there).
    Any other failure backs off with :func:`backoff_seconds`, never less than ``decision.min_wait``.

    :param decision: the verdict of :func:`should_retry` (``retry`` must be true).
    :param attempt: 0 for the first retry.
    :param retry_after: seconds the server asked to wait, if it said.
    :param base: first backoff step in seconds.
    :param cap: longest backoff step in seconds.
    :param rng: returns a float in ``[0, 1)``.
    """
    if decision.rate_limited:
        return rng() * min(base, RATE_LIMITED_JITTER_S)
    delay = backoff_seconds(attempt, retry_after, base=base, cap=cap, rng=rng)
    return max(delay, decision.min_wait)


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date) into seconds from now.

    :param value: the header value, or ``None``.
    :param now: the current Unix time (injectable for tests).
    :returns: seconds (``>= 0``), or ``None`` when absent or unparseable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now(), 0.0)

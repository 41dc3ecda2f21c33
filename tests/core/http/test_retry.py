"""The retry policy table and the backoff function (pure, jitter pinned)."""

from __future__ import annotations

import pytest

from hubspot_events_provider.core.http.retry import (
    LOCKED_MIN_WAIT_S,
    RATE_LIMITED_JITTER_S,
    Failure,
    RetryDecision,
    backoff_seconds,
    parse_retry_after,
    retry_delay,
    should_retry,
)


@pytest.mark.parametrize(
    ("status", "category", "policy", "retry", "rate_limited", "daily"),
    [
        (429, "RATE_LIMITS", "TEN_SECONDLY_ROLLING", True, True, False),
        (429, "RATE_LIMITS", "SECONDLY", True, True, False),
        (429, None, None, True, True, False),
        (429, "RATE_LIMITS", "DAILY", False, False, True),
        (500, None, None, True, False, False),
        (502, None, None, True, False, False),
        (503, None, None, True, False, False),
        (504, None, None, True, False, False),
        (599, None, None, True, False, False),
        (423, None, None, True, False, False),
        (477, None, None, True, False, False),
        (400, "VALIDATION_ERROR", None, False, False, False),
        (401, "INVALID_AUTHENTICATION", None, False, False, False),
        (401, "EXPIRED_AUTHENTICATION", None, False, False, False),
        (403, "MISSING_SCOPES", None, False, False, False),
        (404, "OBJECT_NOT_FOUND", None, False, False, False),
        (409, None, None, False, False, False),
        (414, None, None, False, False, False),
    ],
)
def test_status_table(
    status: int, category: str | None, policy: str | None, retry: bool, rate_limited: bool, daily: bool
) -> None:
    decision = should_retry(status=status, category=category, policy_name=policy)
    assert (decision.retry, decision.rate_limited) == (retry, rate_limited)
    assert (decision.reason == "429 DAILY") is daily
    assert decision.refresh_auth is False


@pytest.mark.parametrize("failure", list(Failure))
def test_transport_failures_are_retried(failure: Failure) -> None:
    decision = should_retry(failure=failure)
    assert decision.retry is True
    assert decision.reason == failure.value


@pytest.mark.parametrize(
    ("category", "can_refresh", "already", "refresh"),
    [
        ("EXPIRED_AUTHENTICATION", True, False, True),
        ("EXPIRED_AUTHENTICATION", True, True, False),
        ("EXPIRED_AUTHENTICATION", False, False, False),
        ("INVALID_AUTHENTICATION", True, False, False),
        (None, True, False, False),
    ],
)
def test_oauth_refresh_only_once_and_only_on_expiry(
    category: str | None, can_refresh: bool, already: bool, refresh: bool
) -> None:
    decision = should_retry(
        status=401, category=category, can_refresh_auth=can_refresh, auth_refreshed=already
    )
    assert decision.refresh_auth is refresh
    assert decision.retry is refresh


def test_423_waits_at_least_two_seconds() -> None:
    assert should_retry(status=423).min_wait == LOCKED_MIN_WAIT_S == 2.0


@pytest.mark.parametrize(
    ("attempt", "rng", "expected"),
    [
        (0, 0.5, 0.25),
        (1, 0.5, 0.5),
        (2, 0.5, 1.0),
        (3, 1.0, 4.0),
        (10, 0.5, 15.0),  # capped at 30 s before jitter
        (0, 0.0, 0.05),  # never back-to-back: at least a tenth of the step
        (20, 0.999999, 29.99997),
    ],
)
def test_backoff_full_jitter_capped(attempt: int, rng: float, expected: float) -> None:
    delay = backoff_seconds(attempt, base=0.5, cap=30.0, rng=lambda: rng)
    assert delay == pytest.approx(expected)


@pytest.mark.parametrize(
    ("retry_after", "rng", "expected"),
    [(3.0, 0.0, 3.0), (3.0, 0.5, 3.25), (-1.0, 0.0, 0.0), (1000.0, 0.0, 120.0)],
)
def test_backoff_honours_and_clamps_retry_after(retry_after: float, rng: float, expected: float) -> None:
    assert backoff_seconds(5, retry_after, base=0.5, rng=lambda: rng) == pytest.approx(expected)


def test_backoff_grows_then_stays_bounded() -> None:
    delays = [backoff_seconds(a, base=0.5, cap=8.0, rng=lambda: 1.0) for a in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:00:30 GMT", 20.0),  # now = 10
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=lambda: 10.0) == expected


@pytest.mark.parametrize(
    ("decision", "attempt", "retry_after", "rng", "expected"),
    [
        # secondly 429: only a jitter below min(base, 1 s); the limiter's pause is the real wait
        (should_retry(status=429, policy_name="TEN_SECONDLY_ROLLING"), 0, None, 0.5, 0.25),
        (should_retry(status=429, policy_name="TEN_SECONDLY_ROLLING"), 4, 7.0, 0.5, 0.25),
        (should_retry(status=429), 0, None, 0.0, 0.0),
        # 423: backoff, but never under the 2 s HubSpot asks for
        (should_retry(status=423), 0, None, 0.5, LOCKED_MIN_WAIT_S),
        (should_retry(status=423), 5, None, 0.5, 8.0),  # 0.5 * 2**5 = 16, half of it
        # 5xx and transport failures: full-jitter backoff, Retry-After honoured
        (should_retry(status=503), 0, None, 0.5, 0.25),
        (should_retry(status=503), 2, None, 1.0, 2.0),
        (should_retry(status=503), 2, 3.0, 0.0, 3.0),
        (should_retry(failure=Failure.TIMEOUT), 1, None, 0.0, 0.1),  # a tenth of the 1 s step
    ],
)
def test_retry_delay_table(
    decision: RetryDecision, attempt: int, retry_after: float | None, rng: float, expected: float
) -> None:
    delay = retry_delay(decision, attempt, retry_after, base=0.5, cap=30.0, rng=lambda: rng)
    assert delay == pytest.approx(expected)


def test_rate_limited_jitter_never_exceeds_a_second() -> None:
    decision = should_retry(status=429)
    assert retry_delay(decision, 0, base=5.0, rng=lambda: 0.999) == pytest.approx(
        0.999 * RATE_LIMITED_JITTER_S
    )

"""Failed answers become typed errors; the client's counters (pure, no server)."""

from __future__ import annotations

import threading

import pytest

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
from hubspot_events_provider.core.http.answers import ClientStats, error_from_response


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, HubSpotValidationError),
        (401, HubSpotAuthError),
        (403, HubSpotMissingScopesError),
        (404, HubSpotNotFoundError),
        (409, HubSpotValidationError),
        (423, HubSpotServerError),
        (477, HubSpotServerError),
        (500, HubSpotServerError),
        (503, HubSpotServerError),
        (207, HubSpotServerError),
    ],
)
def test_each_status_maps_to_its_error_type(status: int, kind: type[HubSpotError]) -> None:
    body = {"category": "SOME_CATEGORY", "message": "said so", "correlationId": "c-1"}
    error = error_from_response(status, body, method="POST", path="/p")
    assert type(error) is kind
    assert (error.status, error.category, error.correlation_id) == (status, "SOME_CATEGORY", "c-1")
    assert (error.method, error.path) == ("POST", "/p")
    assert "said so" in str(error)


def test_a_403_names_every_scope_hubspot_asks_for_once_sorted() -> None:
    body = {
        "message": "missing",
        "errors": [
            {"context": {"requiredGranularScopes": ["b.write", "a.read"]}},
            {"context": {"missingScopes": ["a.read"], "requiredScopes": "not a list"}},
            "not a dict",
        ],
    }
    error = error_from_response(403, body, method="GET", path="/p")
    assert "(a.read, b.write)" in str(error)


def test_a_403_without_scopes_names_the_marketing_events_scopes() -> None:
    error = error_from_response(403, {}, method="GET", path="/p")
    assert "crm.objects.marketing_events.read/write" in str(error)
    assert "HubSpot answered HTTP 403." in str(error)


def test_a_daily_429_says_when_it_resets_and_a_burst_429_does_not_claim_daily() -> None:
    body = {"policyName": "DAILY", "message": "spent"}
    daily = error_from_response(429, body, method="POST", path="/p", retry_after=3600.0)
    assert isinstance(daily, HubSpotDailyLimitError)
    assert daily.policy_name == "DAILY"
    assert daily.retry_after == 3600.0
    assert daily.resets_at is not None
    assert daily.resets_at.endswith("Z")
    unknown = error_from_response(429, body, method="POST", path="/p")
    assert isinstance(unknown, HubSpotDailyLimitError)
    assert unknown.resets_at is None
    assert "did not say when it resets" in str(unknown)
    burst = error_from_response(429, {"policyName": "TEN_SECONDLY_ROLLING"}, method="POST", path="/p")
    assert type(burst) is HubSpotRateLimitError
    assert burst.policy_name == "TEN_SECONDLY_ROLLING"
    assert "retries ran out" in str(burst)


def test_client_stats_count_from_many_threads() -> None:
    stats = ClientStats()

    def count() -> None:
        for _ in range(500):
            stats.add("requests")

    threads = [threading.Thread(target=count) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats.add("retries", 3)
    assert stats.snapshot() == {"requests": 2000, "retries": 3, "rate_limited": 0}
    snap = stats.snapshot()
    snap["requests"] = 0
    assert stats.snapshot()["requests"] == 2000

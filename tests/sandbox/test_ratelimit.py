"""Rolling rate window (TEN_SECONDLY_ROLLING), daily limit (DAILY), rate-limit headers, Retry-After."""

from __future__ import annotations

import time

import pytest

from hubspot_events_provider.sandbox import SandboxConfig
from hubspot_events_provider.sandbox.pytest_plugin import SandboxFactory
from tests.sandbox.conftest import Api, event


def test_rolling_window_refuses_then_recovers(hubspot_sandbox_factory: SandboxFactory) -> None:
    sandbox = hubspot_sandbox_factory(SandboxConfig(rate_limit=5, rate_window_s=0.5))
    api = Api(sandbox)
    answers = [api.read("x") for _ in range(6)]
    assert [r.status_code for r in answers] == [404] * 5 + [429]
    assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in answers[:5]] == ["4", "3", "2", "1", "0"]
    assert {r.headers["X-HubSpot-RateLimit-Max"] for r in answers} == {"5"}
    assert {r.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] for r in answers} == {"500"}
    body = answers[5].json()
    assert body["status"] == "error"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["groupName"]
    assert "Retry-After" not in answers[5].headers
    time.sleep(0.55)  # let the whole window roll over
    assert api.upsert([event()]).status_code == 200
    assert sandbox.stats()["rate_limited"] == 1
    assert sandbox.requests()[5].status == 429


def test_refused_requests_count_against_the_window(hubspot_sandbox_factory: SandboxFactory) -> None:
    sandbox = hubspot_sandbox_factory(rate_limit=2, rate_window_s=30.0)
    api = Api(sandbox)
    statuses = [api.read("x").status_code for _ in range(4)]
    assert statuses == [404, 404, 429, 429]
    assert sandbox.stats()["rate_limited"] == 2


def test_daily_limit_is_429_daily_with_daily_headers(hubspot_sandbox_factory: SandboxFactory) -> None:
    sandbox = hubspot_sandbox_factory(daily_limit=3)
    api = Api(sandbox)
    answers = [api.read("x") for _ in range(4)]
    assert [r.status_code for r in answers] == [404, 404, 404, 429]
    assert [r.headers["X-HubSpot-RateLimit-Daily-Remaining"] for r in answers[:3]] == ["2", "1", "0"]
    assert answers[0].headers["X-HubSpot-RateLimit-Daily"] == "3"
    body = answers[3].json()
    assert body["policyName"] == "DAILY"
    assert body["message"] == "You have reached your daily limit."


def test_no_daily_headers_without_daily_limit(api: Api) -> None:
    resp = api.read("x")
    assert "X-HubSpot-RateLimit-Daily" not in resp.headers
    assert int(resp.headers["X-HubSpot-RateLimit-Remaining"]) > 0


@pytest.mark.parametrize("window", [1.0, 10.0])
def test_retry_after_header_when_enabled(hubspot_sandbox_factory: SandboxFactory, window: float) -> None:
    sandbox = hubspot_sandbox_factory(rate_limit=1, rate_window_s=window, retry_after_header=True)
    api = Api(sandbox)
    assert api.read("x").status_code == 404
    refused = api.read("x")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= window


def test_configure_rate_limit_at_runtime(api: Api) -> None:
    api.sandbox.configure(rate_limit=1, rate_window_s=30.0)
    assert api.read("x").status_code == 404
    assert api.read("x").status_code == 429
    api.sandbox.reset()
    assert api.read("x").status_code == 404
